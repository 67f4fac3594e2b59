"""Sample FastAPI service of the zero-downtime deploy kit."""

# The package version, in one place (app/pyproject.toml reads it from here).
# APP_VERSION, baked into the image at build time, overrides it at run time.
__version__ = "0.0.1"
