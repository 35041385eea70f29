import http.client
import ipaddress
import signal
import threading
import urllib.request

from django.core.management.base import BaseCommand, CommandError

HEALTH_PATH = "/api/health"
LOGIN_PATH = "/accounts/login/"
# The first answer takes a few seconds (uvicorn imports Django, FastAPI and the model in each worker).
POLL_SECONDS = 0.5
REQUEST_TIMEOUT_SECONDS = 2.0
# The server is on this machine: an http_proxy in the environment must not carry the check elsewhere.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def browser_host(host: str) -> str:
    """The host part of a URL to the server: a wildcard listen address is reached on loopback."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host
    if address.is_unspecified:
        address = ipaddress.ip_address("::1" if address.version == 6 else "127.0.0.1")
    return f"[{address}]" if address.version == 6 else str(address)


class Command(BaseCommand):
    help = (
        "Wait until the web server answers GET /api/health with 200, print the login address once, then stay "
        "until SIGTERM or SIGINT (a Procfile process: honcho stops every process when one exits)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="The address uvicorn listens on (HOST)")
        parser.add_argument("--port", type=int, default=8000, help="The port uvicorn listens on (WEB_PORT)")

    def handle(self, *args, host: str, port: int, **options) -> None:
        if not 0 < port < 65536:
            raise CommandError(f"--port must be between 1 and 65535, got {port}")
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        base = f"http://{browser_host(host)}:{port}"
        while not stop.is_set():
            if self.answers(base + HEALTH_PATH):
                self.stdout.write(f"ready: log in at {base}{LOGIN_PATH} (health: {base}{HEALTH_PATH})")
                self.stdout.flush()  # a pipe to honcho is block-buffered
                break
            stop.wait(POLL_SECONDS)
        # A bounded wait: a signal handler runs between waits at the latest.
        while not stop.wait(1.0):
            pass

    @staticmethod
    def answers(url: str) -> bool:
        try:
            with _opener.open(url, timeout=REQUEST_TIMEOUT_SECONDS) as response:
                return response.status == 200
        except (OSError, http.client.HTTPException):
            # Not listening yet, or a 503 (the database is not reachable): not ready.
            return False
