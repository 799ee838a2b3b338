"""Allow ``python -m assurexray``."""

from assurexray.cli.main import app

if __name__ == "__main__":
    app(prog_name="assurexray")
