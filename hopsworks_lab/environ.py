"""The environment contract between what starts code (the hub's spawner, the job runner, an
experiment) and what runs inside it (a lab server, its kernels, a job, a trial's workers).
Names only: this module imports nothing, so kernels and workers read it for free."""

# Set by the spawner for a lab server and by the job runner for a job.
ENV_PLATFORM_URL = "HOPSWORKS_LAB_PLATFORM_URL"  # base URL: the platform serves api/, webhdfs/v1/
ENV_API_KEY = "HOPSWORKS_LAB_API_KEY"  # the project-user key: "Authorization: ApiKey <key>"
# The platform's Unix socket: requests for ENV_PLATFORM_URL go through it (the URL then only
# names the platform). A project-user key works there only, from its own Unix account.
ENV_PLATFORM_SOCKET = "HOPSWORKS_LAB_PLATFORM_SOCKET"
ENV_PROJECT = "HOPSWORKS_LAB_PROJECT"  # the project the code belongs to
# <storage root>/Projects/<project> when the platform's storage is a local file system
ENV_PROJECT_DIR = "HOPSWORKS_LAB_PROJECT_DIR"
# Lab servers only.
# The member's role in the project when the server started (DATA_OWNER | DATA_SCIENTIST): a
# Data Scientist's server does not hand files out (server/export.py).
ENV_ROLE = "HOPSWORKS_LAB_ROLE"
ENV_CERT_DIR = "HOPSWORKS_LAB_CERT_DIR"  # cert.pem, key.pem (encrypted), key.password, ca.pem
ENV_SPARK_MASTER = "HOPSWORKS_LAB_SPARK_MASTER"  # e.g. local[2], spark://host:7077
ENV_SPARK_CONF = "HOPSWORKS_LAB_SPARK_CONF"  # JSON object of Spark properties
# Jobs only.
ENV_JOB = "HOPSWORKS_LAB_JOB"
ENV_EXECUTION = "HOPSWORKS_LAB_EXECUTION"
# A trial's TensorBoard folder, for the processes it starts (distributed workers).
ENV_LOGDIR = "HOPSWORKS_LAB_LOGDIR"
