"""``python -m jinja_bccache``: warm a cache at deploy, and inspect or prune a cache directory.

    python -m jinja_bccache warm myapp.templating:env [--jobs N] [--filter GLOB]
                                 [--extensions html,txt]
    python -m jinja_bccache stats DIR [--pattern PATTERN]
    python -m jinja_bccache prune DIR [--max-age SECONDS] [--max-entries N] [--max-bytes N]
                                      [--pattern PATTERN]

Each subcommand's ``--help`` describes its arguments.
"""

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
