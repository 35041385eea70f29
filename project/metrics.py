"""GET /metrics: Prometheus exposition for the whole deployment, guarded by network and token.

Counters and histograms come from every process's files in PROMETHEUS_MULTIPROC_DIR (web workers and
Celery workers; see project/observability.py), summed by prometheus_client's MultiProcessCollector.
Queue lengths, training jobs and the deployed models are read at scrape time, never per request.
Outside /api, so it is not part of the API or its schema; project/asgi.py routes it to the FastAPI app.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import logging
from collections.abc import Callable, Iterator

from django.conf import settings
from fastapi import Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

from project.celery import app as celery_app

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


# --- Who may scrape ------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=8)
def _networks(cidrs: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def _client_address(request: Request) -> IPAddress | None:
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    # A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _client_allowed(request: Request) -> bool:
    address = _client_address(request)
    return address is not None and any(address in net for net in _networks(tuple(settings.METRICS_ALLOWED_NETWORKS)))


def _presented_token(request: Request) -> str | None:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() not in ("bearer", "token") or not credentials.strip():
        return None
    return credentials.strip()


def _refusal(request: Request) -> JSONResponse | None:
    """403 outside METRICS_ALLOWED_NETWORKS; with METRICS_TOKEN set, 401 without a token and 403 with a wrong one."""
    if not _client_allowed(request):
        return JSONResponse(status_code=403, content={"detail": "Metrics are not served to this address"})
    expected = settings.METRICS_TOKEN
    if not expected:
        return None
    presented = _presented_token(request)
    if presented is None:
        return JSONResponse(
            status_code=401,
            content={"detail": "Metrics need Authorization: Bearer <METRICS_TOKEN>"},
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not hmac.compare_digest(presented.encode(), expected.encode()):
        return JSONResponse(status_code=403, content={"detail": "Invalid metrics token"})
    return None


# --- What is read at scrape time -----------------------------------------------------------------------
def queue_lengths() -> dict[str, int]:
    """Messages waiting in each declared Celery queue: LLEN on Redis, message files in the filesystem broker."""
    names = [queue.name for queue in celery_app.conf.task_queues]
    with celery_app.connection_for_read() as connection:
        connection.ensure_connection(max_retries=1, timeout=2)
        channel = connection.default_channel
        # kombu's virtual transports (Redis, filesystem) count a queue without consuming from it; on Redis
        # this sums the priority sub-queues too, which a bare LLEN would miss.
        return {name: int(channel._size(name)) for name in names}


# Sources of database-backed gauges, registered by the apps that own the data (the training app's jobs and
# deployed models: training/metrics.py, registered where the app is wired, project/api.py). Each returns its
# metric families, or raises when the database does not answer.
DatabaseSource = Callable[[], list[Metric]]
_database_sources: list[DatabaseSource] = []


def register_database_source(source: DatabaseSource) -> None:
    if source not in _database_sources:
        _database_sources.append(source)


class StateCollector:
    """Gauges computed when Prometheus scrapes. A source that fails is reported by its `_up` gauge, and the
    rest of the scrape still answers."""

    def collect(self) -> Iterator[Metric]:
        broker_up = GaugeMetricFamily("revsent_broker_up", "1 when the broker answered the queue-length query")
        try:
            lengths = queue_lengths()
        except Exception as exc:
            logger.warning("Metrics: cannot read the Celery queue lengths: %s", exc)
            broker_up.add_metric([], 0)
        else:
            broker_up.add_metric([], 1)
            queues = GaugeMetricFamily(
                "revsent_celery_queue_length", "Messages waiting in each Celery queue", labels=["queue"]
            )
            for name, length in lengths.items():
                queues.add_metric([name], length)
            yield queues
        yield broker_up

        database_up = GaugeMetricFamily("revsent_metrics_database_up", "1 when the database answered the scrape")
        try:
            families = [family for source in _database_sources for family in source()]
        except Exception as exc:
            logger.warning("Metrics: cannot read training jobs and models: %s", exc)
            database_up.add_metric([], 0)
        else:
            database_up.add_metric([], 1)
            yield from families
        yield database_up


def exposition() -> bytes:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(settings.PROMETHEUS_MULTIPROC_DIR))
    registry.register(StateCollector())
    return generate_latest(registry)


def metrics(request: Request) -> Response:
    """A plain Starlette endpoint (project/api.py adds it with add_route), not an API operation: no token
    dependency, no schema. Sync, so Starlette runs it on the thread pool (it reads the database and broker)."""
    refusal = _refusal(request)
    if refusal is not None:
        return refusal
    return Response(exposition(), media_type=CONTENT_TYPE_LATEST)
