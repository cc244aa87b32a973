"""JupyterHub integration: the authenticator (password + one-time code checked by the
platform), the project spawner, and the configuration ``hopsworks-lab up`` runs."""
