"""``python -m jinja_bccache``: warm a cache at deploy, inspect or prune a cache directory, and
run dbt or Ansible with the cache.

    python -m jinja_bccache warm myapp.templating:env [--jobs N] [--filter GLOB]
                                 [--extensions html,txt]
    python -m jinja_bccache stats DIR [--pattern PATTERN]
    python -m jinja_bccache prune DIR [--max-age SECONDS] [--max-entries N] [--max-bytes N]
                                      [--pattern PATTERN]
    python -m jinja_bccache dbt DBT_ARGUMENTS...
    python -m jinja_bccache ansible-playbook ARGUMENTS...   (or ansible ARGUMENTS...)

Each subcommand's ``--help`` describes its arguments.
"""

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
