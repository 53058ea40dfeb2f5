
import os

# pytest-xdist's workers inherit COLUMNS=80, and Rich fixes a console's width from COLUMNS
# when it is made (at import, before any test): the CLI's tests choose their width per runner.
os.environ.pop("COLUMNS", None)
