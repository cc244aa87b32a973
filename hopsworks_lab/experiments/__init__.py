"""The notebook-side experiment runtime behind :mod:`hopsworks_lab.experiment`: search
spaces (``space``), where a run's files live (``store``), trials in parallel (``runner``,
``trial``), early stopping (``earlystop``), the REST record (``recorder``), the progress
widget (``progress``) and the running trial's folder (``context``).

Nothing heavy is imported here: numpy, scipy and pyspark load when an experiment runs."""
