"""REST faces of the platform: thin tornado handlers over ``hopsworks_lab.platform``."""

from .routes import ROUTES, make_app, url_patterns

__all__ = ["ROUTES", "make_app", "url_patterns"]
