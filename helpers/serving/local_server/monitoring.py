"""``--monitoring_config_file``: TensorFlow Serving's Prometheus endpoint on the REST port, with
``prometheus-client``.

The config is a text ``MonitoringConfig`` (tensorflow_serving/config/monitoring_config.proto:
``prometheus_config { enable: true path: "/monitoring/prometheus/metrics" }``; an empty path means that
default). The metric names are TF Serving's (servables/tensorflow/util.cc), sanitised as
util/prometheus_exporter.cc does (``/tensorflow/serving/request_count`` -> ``:tensorflow:serving:request_count``):

* ``:tensorflow:serving:request_count{model_name, status}``: counter, every gRPC Predict/Classify/Regress and
  every REST ``/v1`` request (``status`` is the code name: OK, INVALID_ARGUMENT, ...);
* ``:tensorflow:serving:request_latency{model_name, API, entrypoint}``: histogram in microseconds of the
  requests that succeeded (API ``Predict``/``Classify``/``Regress`` over GRPC, the lower-case verb over REST),
  buckets ``Exponential(10, 1.8, 33)``;
* ``:tensorflow:serving:model_warmup_latency{model_path, status}``: histogram of warm-up replays.

Differences from the real page: values are written as prometheus-client writes them (``3.0``), and none of
TensorFlow core's own metrics are exported; prometheus-client's ``# HELP`` lines are dropped (the real page
has none) and counters keep their name (prometheus-client would add ``_total``).
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

DEFAULT_PATH = "/monitoring/prometheus/metrics"  # PrometheusExporter::kPrometheusPath
LATENCY_BUCKETS = [10 * 1.8**i for i in range(33)]  # monitoring::Buckets::Exponential(10, 1.8, 33)


def _monitoring_config_class():
    """MonitoringConfig (monitoring_config.proto does not ship in tensorflow-serving-api)."""
    pool = descriptor_pool.DescriptorPool()
    proto = descriptor_pb2.FileDescriptorProto(
        name="helpers_serving_monitoring.proto", package="tensorflow.serving", syntax="proto3"
    )
    f = descriptor_pb2.FieldDescriptorProto
    prom = proto.message_type.add(name="PrometheusConfig")
    prom.field.add(name="enable", number=1, type=f.TYPE_BOOL, label=f.LABEL_OPTIONAL)
    prom.field.add(name="path", number=2, type=f.TYPE_STRING, label=f.LABEL_OPTIONAL)
    config = proto.message_type.add(name="MonitoringConfig")
    config.field.add(
        name="prometheus_config",
        number=1,
        type=f.TYPE_MESSAGE,
        label=f.LABEL_OPTIONAL,
        type_name=".tensorflow.serving.PrometheusConfig",
    )
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.serving.MonitoringConfig"))


MonitoringConfig = _monitoring_config_class()


def read_monitoring_config(path: str) -> str | None:
    """The Prometheus path the config enables, or None (FlagError/ConfigParseError if it does not parse)."""
    from pathlib import Path

    from helpers.serving.local_server.flags import FlagError, parse_text_proto

    file = Path(path)
    if not file.is_file():
        raise FlagError(f"NOT_FOUND: {path}; No such file or directory")
    config = parse_text_proto(file.read_text(), MonitoringConfig(), path)
    if not config.prometheus_config.enable:
        return None
    return config.prometheus_config.path or DEFAULT_PATH


def _limit(value: float) -> str:
    return f"{value:.6g}"  # absl::StrCat(double)


class _Histogram:
    __slots__ = ("counts", "sum", "n")

    def __init__(self):
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.sum = 0.0
        self.n = 0

    def add(self, value: float) -> None:
        self.counts[bisect.bisect_right(LATENCY_BUCKETS, value)] += 1  # TF buckets count values below the limit
        self.sum += value
        self.n += 1


class Metrics:
    """The serving metrics, recorded by the gRPC and REST handlers and collected by prometheus-client."""

    def __init__(self):
        self._lock = threading.Lock()
        self.request_count: dict[tuple[str, str], int] = defaultdict(int)
        self.latency: dict[str, dict[tuple, _Histogram]] = defaultdict(dict)

    def request(self, model: str, status: str, api: str = "", entrypoint: str = "", micros: float = 0.0) -> None:
        """One finished request; its latency is recorded only when it succeeded (util.cc)."""
        with self._lock:
            self.request_count[(model, status)] += 1
            if status == "OK" and entrypoint:
                self._observe("request_latency", (model, api, entrypoint), micros)

    def warmup(self, model_path: str, status: str, micros: float) -> None:
        with self._lock:
            self._observe("model_warmup_latency", (model_path, status), micros)

    def _observe(self, name: str, labels: tuple, micros: float) -> None:
        hist = self.latency[name].get(labels)
        if hist is None:
            hist = self.latency[name][labels] = _Histogram()
        hist.add(micros)

    # ---------------------------------------------------------------- prometheus-client
    def collect(self):
        """prometheus_client's Collector protocol."""
        from prometheus_client.core import Metric

        label_names = {
            "request_latency": ("model_name", "API", "entrypoint"),
            "model_warmup_latency": ("model_path", "status"),
        }
        with self._lock:
            if self.request_count:
                name = ":tensorflow:serving:request_count"
                metric = Metric(name, "Number of requests.", "counter")
                for (model, status), n in sorted(self.request_count.items()):
                    metric.add_sample(name, {"model_name": model, "status": status}, n)
                yield metric
            for short, cells in self.latency.items():
                name = f":tensorflow:serving:{short}"
                metric = Metric(name, short, "histogram")
                for labels, hist in sorted(cells.items()):
                    base = dict(zip(label_names[short], labels, strict=True))
                    cumulative = 0
                    for limit, count in zip([*LATENCY_BUCKETS, None], hist.counts, strict=True):
                        cumulative += count
                        le = "+Inf" if limit is None else _limit(limit)
                        metric.add_sample(name + "_bucket", {**base, "le": le}, cumulative)
                    metric.add_sample(name + "_sum", base, hist.sum)
                    metric.add_sample(name + "_count", base, hist.n)
                yield metric

    def exposition(self) -> str:
        """The page: Prometheus text format, counters under their own name as TF Serving writes them."""
        from prometheus_client import CollectorRegistry, generate_latest

        registry = CollectorRegistry(auto_describe=False)
        registry.register(self)
        lines = []
        for line in generate_latest(registry).decode().splitlines():
            if line.startswith("# HELP"):
                continue
            if line.startswith("# TYPE ") and line.endswith("_total counter"):
                line = line[: -len("_total counter")] + " counter"
            lines.append(line)
        return "\n".join(lines) + "\n"
