"""Settings, driven by the environment (reference: docs/configuration.md, generated from these modules).

With no environment at all the project runs in development mode on the embedded default: SQLite, kombu's
filesystem broker, a file cache and a local MLflow store, all of it under `var/`. Setting `DATABASE_URL` /
`REDIS_URL` switches to the real services. Production (`DJANGO_ENV=production`) is opt-in and refuses
unsafe values.

`DJANGO_SETTINGS_MODULE=project.settings` loads this package, which assembles the modules below in order
(a later one may use what an earlier one set). Each variable read from the environment is documented by
the `#:` comments above its read; `python -m project.settings_reference` writes docs/configuration.md and
.env.example from them, and tests/project/test_docs.py fails when either is stale.
"""

from project.settings.access import *  # noqa: F403
from project.settings.base import *  # noqa: F403
from project.settings.models import *  # noqa: F403
from project.settings.observability import *  # noqa: F403
from project.settings.services import *  # noqa: F403
