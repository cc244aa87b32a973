"""Jobs: programs from a project's datasets run as the project-user, on demand or on a
schedule. Pure builders (job settings, the ``spark-submit`` and papermill command lines, the
scheduling decision) live beside the process runner; the service that ties them to the
metadata is ``hopsworks_lab.platform.services.jobs``."""
