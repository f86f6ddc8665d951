"""Reporting for :mod:`helpers.serving.bench`: a plain-text table, the key figures and a plot of one
:func:`~helpers.serving.bench.run_benchmark` result."""

from __future__ import annotations

import statistics


def table(result: dict) -> str:
    """A plain-text table of :func:`run_benchmark`'s rows and the in-process ceiling."""
    lines = [f"{'mode':<14}{'clients':>8}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'failed':>8}"]
    for r in result["rows"]:
        lines.append(
            f"{r['mode']:<14}{r['clients']:>8}{r['throughput']:>10.0f}{r['p50_ms']:>9.2f}"
            f"{r['p99_ms']:>9.2f}{r['failures']:>8}"
        )
    c = result["in_process"]
    lines.append(f"{'in-process':<14}{'b=' + str(c['batch']):>8}{c['rows_per_s']:>10.0f}{c['p50_ms']:>9.2f}")
    return "\n".join(lines)


def summary(result: dict) -> dict:
    """Key figures: throughput with batching off/on at the highest concurrency, their ratio (the median of the
    paired rounds' ratios), the ceiling."""
    top = max(r["clients"] for r in result["rows"])
    off = next(r for r in result["rows"] if r["mode"] == "batching off" and r["clients"] == top)
    on = next(r for r in result["rows"] if r["mode"] == "batching on" and r["clients"] == top)
    ceiling = result["in_process"]["rows_per_s"]
    # the median of the paired rounds' ratios: a burst of load from elsewhere skews one pair, not the figure
    pairs = list(zip(on.get("round_throughputs", []), off.get("round_throughputs", []), strict=True))
    speedup = statistics.median(a / b for a, b in pairs) if pairs else on["throughput"] / off["throughput"]
    return {
        "clients": top,
        "off_rps": off["throughput"],
        "on_rps": on["throughput"],
        "batching_speedup": speedup,
        "off_cpu_ms": off.get("server_cpu_ms", float("nan")),
        "on_cpu_ms": on.get("server_cpu_ms", float("nan")),
        "cpu_saving": off.get("server_cpu_ms", float("nan")) / max(on.get("server_cpu_ms", float("nan")), 1e-9),
        "in_process_rps": ceiling,
        "on_vs_in_process": on["throughput"] / ceiling,
        "failures": sum(r["failures"] for r in result["rows"]),
    }


def plot(result: dict, path=None, title: str = ""):
    """Throughput and p50/p99 latency against concurrency, batching off vs on, with the ceiling."""
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    for mode, color in (("batching off", "tab:red"), ("batching on", "tab:green")):
        rows = [r for r in result["rows"] if r["mode"] == mode]
        xs = [r["clients"] for r in rows]
        ax1.plot(xs, [r["throughput"] for r in rows], "o-", color=color, label=mode)
        ax2.plot(xs, [r["p50_ms"] for r in rows], "o-", color=color, label=f"{mode} p50")
        ax2.plot(xs, [r["p99_ms"] for r in rows], "o--", color=color, alpha=0.6, label=f"{mode} p99")
    ax1.axhline(result["in_process"]["rows_per_s"], color="gray", ls=":", label="in-process ceiling")
    ax1.set(xscale="log", yscale="log", xlabel="concurrent gRPC clients", ylabel="examples / s", title=title)
    ax2.set(xscale="log", yscale="log", xlabel="concurrent gRPC clients", ylabel="latency (ms)")
    for ax in (ax1, ax2):
        ax.legend(fontsize=8)
    fig.tight_layout()
    if path:
        fig.savefig(path, dpi=100)
    return fig
