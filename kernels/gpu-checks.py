#!/usr/bin/env python3
"""Checks what kernels/gpu-verify.sh produced and writes summary.json and summary.md.

Every check is pass, fail or skip (a check that needs a GPU, on the CPU dry run); the
exit status is non-zero when any check failed. Standard library only: it runs under the
GPU machine's Python as well as CI's.
"""

import argparse
import json
import os
import statistics
import sys

# CUDA events resolve about half a microsecond; a device time may exceed the host time
# around it by no more than that.
EVENT_RESOLUTION_MS = 0.001
RUN_FILES = ("samples.jsonl", "metrics.json", "run_config.json", "manifest.json")
NVML_FIELDS = ("gpu_util_avg_percent", "gpu_mem_used_peak_mib", "gpu_power_avg_w")


class Checks:
    def __init__(self, on_gpu):
        self.on_gpu = on_gpu
        self.items = []

    def add(self, name, ok, detail=""):
        self.items.append({"check": name, "result": "pass" if ok else "fail", "detail": detail})

    def gpu_only(self, name, ok, detail=""):
        if self.on_gpu:
            self.add(name, ok, detail)
        else:
            self.items.append({"check": name, "result": "skip", "detail": "needs a GPU"})

    def failed(self):
        return [c for c in self.items if c["result"] == "fail"]


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        return {"_error": str(e)}


def samples(run):
    out = []
    try:
        with open(os.path.join(run, "samples.jsonl")) as f:
            for line in f:
                if line.strip():
                    out.append(json.loads(line))
    except (OSError, ValueError):
        pass
    return out


def median(xs):
    return statistics.median(xs) if xs else None


def check_run(c, name, run):
    """Checks one run directory and returns its figures."""
    present = [f for f in RUN_FILES if os.path.isfile(os.path.join(run, f))]
    c.add(f"{name}: complete run directory", len(present) == len(RUN_FILES),
          f"{len(present)}/{len(RUN_FILES)} files")
    recs = samples(run)
    ok = [r for r in recs if r.get("ok")]
    c.add(f"{name}: every request completed", bool(recs) and len(ok) == len(recs),
          f"{len(ok)}/{len(recs)} ok")
    exact = [r for r in ok if r.get("output_tokens") == r.get("max_tokens")]
    c.add(f"{name}: output lengths exact", bool(ok) and len(exact) == len(ok),
          f"{len(exact)}/{len(ok)} with output_tokens == max_tokens")

    host_steps, dev_steps, worst = [], [], []
    prefill_host, prefill_dev = [], []
    dev_ok = bool(ok)
    for r in ok:
        p_host, p_dev = r.get("prefill_ms"), r.get("prefill_device_ms")
        steps = r.get("decode_step_device_ms") or []
        times = r.get("token_ms") or []
        gaps = [b - a for a, b in zip(times, times[1:])]
        if p_host is not None:
            prefill_host.append(p_host)
        host_steps += gaps
        if p_dev is None or p_host is None or len(steps) != len(gaps):
            dev_ok = False
            continue
        prefill_dev.append(p_dev)
        dev_steps += steps
        worst.append(p_dev - p_host)
        worst += [d - h for d, h in zip(steps, gaps)]
    pairs = dev_ok and len(dev_steps) == len(host_steps)
    c.gpu_only(f"{name}: device times present (prefill and every decode step)", dev_ok,
               f"{len(dev_steps)} decode steps timed")
    excess = max(worst) if worst else None
    c.gpu_only(f"{name}: device time <= host time, every prefill and decode step",
               dev_ok and excess is not None and excess <= EVENT_RESOLUTION_MS,
               f"largest device - host = {excess:.4f} ms" if excess is not None else "no data")

    metrics = load_json(os.path.join(run, "metrics.json"))
    flat = json.dumps(metrics)
    nvml = [f for f in NVML_FIELDS if f'"{f}": ' in flat and f'"{f}": null' not in flat]
    c.gpu_only(f"{name}: NVML fields in metrics.json", len(nvml) == len(NVML_FIELDS),
               ", ".join(nvml) or "none")

    dec_host = median(host_steps)
    dec_dev = median(dev_steps)
    return {
        "run": name,
        "requests_ok": len(ok),
        "prompt_tokens": median([r.get("prompt_tokens") or 0 for r in ok]),
        "ttft_ms_p50": median([r["ttft_ms"] for r in ok if r.get("ttft_ms") is not None]),
        "prefill_host_ms_p50": median(prefill_host),
        "prefill_device_ms_p50": median(prefill_dev),
        "decode_step_host_ms_p50": dec_host,
        "decode_step_device_ms_p50": dec_dev,
        "launch_overhead_ms_p50": median([h - d for h, d in zip(host_steps, dev_steps)]) if pairs else None,
        "decode_tok_s": 1000.0 / dec_host if dec_host else None,
        "decode_mbu": (metrics.get("roofline") or {}).get("decode_mbu"),
        "gpu": {k: find(metrics, k) for k in NVML_FIELDS},
    }


def find(obj, key):
    """The first value of `key` anywhere in a JSON document."""
    if isinstance(obj, dict):
        if key in obj:
            return obj[key]
        obj = list(obj.values())
    if isinstance(obj, list):
        for v in obj:
            hit = find(v, key)
            if hit is not None:
                return hit
    return None


def check_nvtx(c, work):
    path = os.path.join(work, "nvtx.txt")
    try:
        lines = [l.rstrip("\n") for l in open(path) if l.strip()]
    except OSError:
        c.add("nvtx: ranges recorded", False, "no recording")
        return {}
    stacks, names, bad = {}, [], 0
    for line in lines:
        parts = line.split(" ", 2)
        if len(parts) < 2:
            bad += 1
            continue
        tid, op = parts[0], parts[1]
        if op == "push" and len(parts) == 3:
            stacks.setdefault(tid, []).append(parts[2])
            names.append(parts[2])
        elif op == "init":
            continue
        elif op == "pop":
            if not stacks.get(tid):
                bad += 1
            else:
                stacks[tid].pop()
        else:
            bad += 1
    open_left = sum(len(s) for s in stacks.values())
    recs = samples(os.path.join(work, "runs", "nvtx"))
    want_decode = sum(max(r.get("output_tokens", 0) - 1, 0) for r in recs)
    got_decode = sum(1 for n in names if n.split(" ")[0] == "decode")
    kinds = {n.split(" ")[0] for n in names}
    c.add("nvtx: ranges nested and closed", bad == 0 and open_left == 0 and bool(names),
          f"{len(names)} ranges, {bad} unmatched, {open_left} left open")
    c.add("nvtx: template, tokenize, prefill and one decode range per step",
          {"template", "tokenize", "prefill"} <= kinds and got_decode == want_decode and want_decode > 0,
          f"{got_decode} decode ranges for {want_decode} decode steps; kinds {sorted(kinds)}")
    return {"ranges": len(names), "decode_ranges": got_decode}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", required=True)
    ap.add_argument("--presets", required=True)
    ap.add_argument("--quants", required=True)
    a = ap.parse_args()
    c = Checks(on_gpu=a.device != "cpu")

    steps = []
    for line in open(os.path.join(a.work, "steps.tsv")):
        name, rc, secs = line.rstrip("\n").split("\t")
        steps.append({"step": name, "exit": int(rc), "seconds": int(secs)})
        c.add(f"step {name} exits 0", rc == "0", f"{secs} s")

    env = load_json(os.path.join(a.work, "env.json"))
    gpus = (env.get("machine") or {}).get("gpus") or []
    c.gpu_only("env: the GPU, driver and CUDA version through NVML",
               bool(gpus) and all(g.get("driver") and g.get("cuda_driver") for g in gpus),
               json.dumps(gpus))

    probe = load_json(os.path.join(a.work, "probe.json"))
    probed = probe.get("gpus") or []
    c.gpu_only("probe: the GPU's read bandwidth, f32 FMA peak and cuBLAS matmul rates (kernels/probe.cu)",
               bool(probed) and all(g.get("read_gb_s", 0) > 0 and g.get("f32_gflop_s", 0) > 0
                                    and {"f32", "f16", "bf16"} <= set(g.get("matmul_gflop_s") or {})
                                    for g in probed),
               json.dumps(probed or probe.get("gpu_notes")))

    runs = []
    for preset in a.presets.split():
        for q in a.quants.split():
            name = f"{preset}-{q}"
            runs.append(check_run(c, name, os.path.join(a.work, "runs", name)))

    bench = []
    try:
        with open(os.path.join(a.work, "bench.json")) as f:
            text = f.read()
        doc = json.loads(text) if text.strip().startswith("[") else [json.loads(l) for l in text.splitlines() if l.strip()]
        bench = doc if isinstance(doc, list) else [doc]
    except (OSError, ValueError) as e:
        bench = [{"_error": str(e)}]
    c.add("bench: pp and tg tests reported", len([b for b in bench if "_error" not in b]) >= 2,
          f"{len(bench)} tests")

    nvtx = check_nvtx(c, a.work)

    agree = load_json(os.path.join(a.work, "agreement.json"))
    rel = agree.get("max_rel_logit_diff")
    prefix = agree.get("matching_prefix")
    c.add("agreement: candle on the device with llama.cpp on the CPU (f32)",
          rel is not None and rel < 0.05 and prefix is not None and prefix >= agree.get("tokens", 0) // 2,
          f"{prefix}/{agree.get('tokens')} greedy tokens agree from the start, relative logit gap {rel}")

    summary = {
        "device": a.device,
        "gpus": gpus,
        "probe": probed,
        "checks": c.items,
        "failed": len(c.failed()),
        "steps": steps,
        "runs": runs,
        "bench": bench,
        "nvtx": nvtx,
        "agreement": {k: agree.get(k) for k in ("tokens", "matching_prefix", "matching_total", "max_rel_logit_diff", "candle_device")},
    }
    with open(os.path.join(a.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    with open(os.path.join(a.out, "summary.md"), "w") as f:
        f.write(markdown(summary))
    sys.stdout.write(markdown(summary))
    return 1 if c.failed() else 0


def fmt(v, digits=3):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def markdown(s):
    lines = [f"# gpu-verify on {s['device']}", ""]
    for g in s["gpus"]:
        lines.append(f"- GPU: {g.get('name')}, driver {g.get('driver')}, CUDA {g.get('cuda_driver')}, "
                     f"{g.get('memory_total_mib', g.get('memory_mib', '?'))} MiB")
    lines += ["", "| run | TTFT p50 ms | prefill host ms | prefill device ms | decode step host ms | "
              "decode step device ms | launch overhead ms | decode tok/s |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in s["runs"]:
        lines.append("| " + " | ".join([r["run"], fmt(r["ttft_ms_p50"]), fmt(r["prefill_host_ms_p50"]),
                                         fmt(r["prefill_device_ms_p50"]), fmt(r["decode_step_host_ms_p50"]),
                                         fmt(r["decode_step_device_ms_p50"]), fmt(r["launch_overhead_ms_p50"]),
                                         fmt(r["decode_tok_s"], 1)]) + " |")
    lines += ["", "| bench test | t/s | ± |", "|---|---:|---:|"]
    for b in s["bench"]:
        lines.append(f"| {b.get('test', b.get('_error', '?'))} | {fmt(b.get('avg_ts'), 2)} | {fmt(b.get('stddev_ts'), 2)} |")
    lines += ["", "| check | result | detail |", "|---|---|---|"]
    for ch in s["checks"]:
        lines.append(f"| {ch['check']} | {ch['result']} | {ch['detail'].replace('|', '/')} |")
    lines += ["", f"{s['failed']} failed", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
