"""The report's matplotlib plots: one PNG per benchmark and model, from its records.

Each ``plot_*`` function takes a result document's records, the PNG's path,
and a label naming the model (shown under the title), and returns the path.
Needs matplotlib (the ``bench`` extra: ``pip install 'tfshare[bench]'``).
"""

from __future__ import annotations

from typing import Any

from tfshare.bench import distributed_sharing, graph_construction, session_reuse, variable_sharing


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the report's plots need matplotlib: pip install 'tfshare[bench]'"
        ) from exc
    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def _save(plt: Any, fig: Any, path: str) -> str:
    """Lays out, writes and closes a figure; returns its path."""
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _titled(title: str, label: str) -> str:
    return f"{title}\n({label})" if label else title


def plot_build_time(records: list[dict[str, Any]], path: str, label: str = "") -> str:
    """Build time (median, total) vs N per mode, log-log."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    for mode in graph_construction.MODES:
        rows = sorted((r for r in records if r["mode"] == mode), key=lambda r: r["n"])
        if rows:
            ax.plot([r["n"] for r in rows], [r["build_s"]["median"] for r in rows], marker="o", label=mode)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("N classifiers")
    ax.set_ylabel("build time, all N (s, median)")
    ax.set_title(_titled("Graph construction: build time vs N", label))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(plt, fig, path)


def _latency_bars(
    records: list[dict[str, Any]], path: str, known_modes: tuple[str, ...], labels: dict[str, str],
    ylabel: str, title: str, figsize: tuple[float, float],
) -> str:
    """Median per-call latency of "latency" records per mode, one bar group per batch size, log scale."""
    plt = _pyplot()
    lat = [r for r in records if r["kind"] == "latency"]
    batches = sorted({r["batch_size"] for r in lat})
    modes = [m for m in known_modes if any(r["mode"] == m for r in lat)]
    by = {(r["mode"], r["batch_size"]): r["seconds"]["median"] for r in lat}
    fig, ax = plt.subplots(figsize=figsize, dpi=100)
    width = 0.8 / max(1, len(modes))
    for i, mode in enumerate(modes):
        xs = [b_i + (i - (len(modes) - 1) / 2) * width for b_i in range(len(batches))]
        ax.bar(xs, [by.get((mode, b), 0) * 1e3 for b in batches], width, label=labels.get(mode, mode))
    ax.set_xticks(range(len(batches)))
    ax.set_xticklabels([f"batch {b}" for b in batches])
    ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, axis="y", which="both", alpha=0.3)
    ax.legend(fontsize=8, ncol=2 if len(modes) > 4 else 1)
    return _save(plt, fig, path)


def plot_latency(records: list[dict[str, Any]], path: str, label: str = "") -> str:
    """Median per-call latency per mode, one bar group per batch size, log scale."""
    return _latency_bars(
        records, path, session_reuse.MODES, {}, "latency per call (ms, median)",
        _titled("Session reuse: latency per mode and batch size", label), (8, 4.5),
    )


_MEMORY_BARS = (
    ("param_bytes", "parameters"),
    ("checkpoint_bytes", "checkpoint (one Saver)"),
    ("per_classifier_checkpoint_bytes", "checkpoints (one per classifier)"),
    ("memory_added", "RSS added"),
)


def plot_memory(records: list[dict[str, Any]], path: str, label: str = "") -> str:
    """Bytes with and without a shared trunk: parameters, checkpoints, RSS added."""
    plt = _pyplot()
    setups = {r["setup"]: r for r in records if r["kind"] == "setup"}
    names = [s for s in variable_sharing.SETUPS if s in setups]
    bars = [(key, label) for key, label in _MEMORY_BARS if any(setups[s].get(key) for s in names)]
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    width = 0.8 / max(1, len(names))
    for i, name in enumerate(names):
        xs = [j + (i - (len(names) - 1) / 2) * width for j in range(len(bars))]
        ax.bar(xs, [max(0, setups[name].get(key) or 0) / 2**20 for key, _ in bars], width,
               label=f"{name} (N={setups[name]['n']})")
    ax.set_xticks(range(len(bars)))
    ax.set_xticklabels([label for _, label in bars], fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("MiB")
    ax.set_title(_titled("Variable sharing: bytes with and without a shared trunk", label))
    ax.grid(True, axis="y", which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(plt, fig, path)


def plot_marginal(records: list[dict[str, Any]], path: str, label: str = "") -> str:
    """Init and first-prediction time of the k-th classifier vs k, per mode."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), dpi=100, sharey=True)
    for ax, part in zip(axes, ("init_s", "first_predict_s")):
        for r in records:
            if r["kind"] == "slope" and r["part"] == part:
                ks = range(1, len(r["values"]) + 1)
                ax.plot(ks, [v * 1e3 for v in r["values"]], label=r["mode"], linewidth=1)
        ax.set_xlabel("k (classifiers already in the runtime + 1)")
        ax.set_title(part[:-2].replace("_", " ") + " of the k-th classifier")
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("ms")
    if label:
        fig.suptitle(label, fontsize=9)
    axes[1].legend(fontsize=8)
    return _save(plt, fig, path)


def plot_gflops(records: list[dict[str, Any]], path: str, label: str = "") -> str:
    """GFLOP/s of the model per batch size and Session thread setting, and of the MatMul references beside each."""
    plt = _pyplot()
    rows = [r for r in records if r["kind"] == "compute"]
    fig, ax = plt.subplots(figsize=(8, 1.5 + 0.3 * len(rows)), dpi=100)
    ax.barh([f"batch {r['batch_size']}: {r['setting']} ({r.get('workload', '')})" for r in rows],
            [r["gflops"] for r in rows])
    ax.invert_yaxis()  # in the records' order, top down
    ax.set_xlabel("GFLOP/s (median; FLOPs from TensorFlow's profiler)")
    ax.set_title(_titled("GFLOP/s per thread setting, and a large MatMul", label))
    ax.grid(True, axis="x", alpha=0.3)
    return _save(plt, fig, path)


def plot_distributed_latency(records: list[dict[str, Any]], path: str, label: str = "") -> str:
    """Median predict latency in-process vs over gRPC, one bar group per batch size, log scale."""
    return _latency_bars(
        records, path, distributed_sharing.MODES, distributed_sharing.LABELS,
        "predict_proba latency per call (ms, median)", _titled("Distributed sharing: local vs remote trunk", label),
        (7, 4),
    )


__all__ = ["plot_build_time", "plot_distributed_latency", "plot_gflops", "plot_latency", "plot_marginal", "plot_memory"]
