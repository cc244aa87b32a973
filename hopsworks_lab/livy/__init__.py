"""Spark sessions for code: the Livy-compatible REPL sessions of the platform
(``sessions``), the startup that binds ``spark`` in a kernel (``kernel``), the pure builders
they share (``settings``, ``output``) and Livy's JSON shapes (``render``).

Kept free of imports: ``hopsworks_lab.livy.kernel`` runs inside project kernels."""
