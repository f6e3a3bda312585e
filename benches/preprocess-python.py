#!/usr/bin/env python3
"""Experiments 1 and 2 of `nativebench preprocess`, measured in Python on the same
templates, tokenizers and texts, and printed beside the Rust figures of the same run.

Usage: preprocess-python.py RUST_OUT_DIR [--reps N] [--warmup N]

RUST_OUT_DIR is the --out folder of a `nativebench preprocess --exp 1,2` run: its
preprocess.json holds the Rust figures, and tokenizers/ the exact tokenizers and chat
templates it measured. The texts are rebuilt here from models/corpus exactly as
src/preprocess/templates.rs builds them (each case's byte count is checked against Rust's).

Python side: `transformers`' apply_chat_template (Jinja2) and the `tokenizers` binding,
one thread; Python threads (the GIL) and processes for batches; and the binding's own
`encode_batch` (Rust threads inside).
"""
import argparse
import json
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = "\n\n".join(
    (ROOT / "models/corpus" / n).read_text(encoding="utf-8") for n in ("mixed.txt", "rust-book.txt")
).encode("utf-8")
TURN_BYTES, REQUEST_BYTES = 256, 1024


def floor_boundary(b, i):
    while 0 < i < len(b) and (b[i] & 0xC0) == 0x80:
        i -= 1
    return i


def text(nbytes, offset):
    """src/preprocess/templates.rs `text`, byte for byte."""
    c, out = CORPUS, bytearray()
    at = floor_boundary(c, offset % len(c))
    while len(out) < nbytes:
        end = floor_boundary(c, min(at + (nbytes - len(out)), len(c)))
        if end == at:
            if at < len(c) and len(out) + 4 > nbytes:
                break
            at = 0
            continue
        out += c[at:end]
        at = 0 if end >= len(c) else end
    return out.decode("utf-8")


def conversation(turns, message_bytes, thinking):
    m = [{"role": "system", "content": "You are a helpful assistant."}]
    for i in range(turns):
        m.append({"role": "user", "content": text(message_bytes, (2 * i) * 7919)})
        if i + 1 < turns:
            answer = text(message_bytes, (2 * i + 1) * 7919)
            if thinking:
                answer = f"<think>\n{text(message_bytes, (2 * i + 1) * 104729)}\n</think>\n\n{answer}"
            m.append({"role": "assistant", "content": answer})
    return m


def single_message(nbytes):
    return [{"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": text(nbytes, 0)}]


def timed(fn, reps, warmup):
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(reps):
        t = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - t) / 1000.0)
    return statistics.median(samples), (statistics.stdev(samples) / statistics.mean(samples)) if reps > 1 else 0.0


_worker_tok = None


def _init_worker(path):
    global _worker_tok
    from tokenizers import Tokenizer
    _worker_tok = Tokenizer.from_file(path)


def _encode_len(t):
    return len(_worker_tok.encode(t, add_special_tokens=False).ids)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("rust_out")
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=3)
    a = ap.parse_args()
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast
    import transformers

    out = Path(a.rust_out)
    report = json.loads((out / "preprocess.json").read_text())
    rows = report["rows"]
    print(f"# Rust (nativebench {report['nativebench_version']}) against Python "
          f"(transformers {transformers.__version__}, Python {sys.version.split()[0]}), "
          f"median of {a.reps} after {a.warmup} warm-up\n")
    stems = {}
    for f in sorted((out / "tokenizers").glob("*.template.json")):
        meta = json.loads(f.read_text())
        stems[meta["model"]] = (f.with_name(f.name.replace(".template.json", ".json")), meta)

    print("## Experiment 1: template against tokenize (µs)\n")
    print("| model | case | Rust render | Python render | render speed-up | Rust tokenize | Python tokenize | tokenize speed-up | Rust render/tokenize | Python render/tokenize |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    noisy = 0
    for model, (tok_path, meta) in stems.items():
        fast = PreTrainedTokenizerFast(tokenizer_file=str(tok_path), bos_token=meta["bos_token"] or None,
                                       eos_token=meta["eos_token"] or None)
        fast.chat_template = meta["chat_template"]
        raw = Tokenizer.from_file(str(tok_path))
        thinking = "reasoning" in meta["template_name"] or "</think>" in meta["chat_template"]
        mine = [r for r in rows if r["experiment"] == 1 and r["model"] == model]
        cases = sorted({(r["turns"], r["text_bytes"]) for r in mine}, key=lambda c: (c[0] is None, c[0] or 0, c[1]))
        for turns, nbytes in cases:
            if turns is not None:
                msgs = conversation(turns, TURN_BYTES, thinking)
                label = f"{turns} turns"
            else:
                msgs = single_message(next(b for b in (100, 1024, 4096, 16384, 65536, 262144)
                                           if sum(len(m["content"].encode()) for m in single_message(b)) == nbytes))
                label = f"{nbytes} B"
            got = sum(len(m["content"].encode()) for m in msgs)
            if got != nbytes:
                sys.exit(f"{model} {label}: texts differ from Rust's ({got} B against {nbytes} B)")
            render = lambda: fast.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
            prompt = render()
            r_render, cv1 = timed(render, a.reps, a.warmup)
            r_tok, cv2 = timed(lambda: raw.encode(prompt, add_special_tokens=False), a.reps, a.warmup)
            noisy += (cv1 > 0.05) + (cv2 > 0.05)
            rust = {r["phase"]: r for r in mine if r["turns"] == turns and r["text_bytes"] == nbytes}
            rr, rt = rust["render"]["median_us"], rust["tokenize"]["median_us"]
            print(f"| {model} | {label} | {rr:.1f} | {r_render:.1f} | {r_render / rr:.1f}x | {rt:.1f} | {r_tok:.1f} | "
                  f"{r_tok / rt:.2f}x | {rr / rt:.3f} | {r_render / r_tok:.3f} |")

    print("\n## Experiment 2: batch tokenization, speed-up against one thread\n")
    print("| model | batch | threads | Rust (rayon) | Python threads | Python processes | tokenizers encode_batch | Rust µs/request 1 thread | Python µs/request 1 thread |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for model, (tok_path, meta) in stems.items():
        mine = [r for r in rows if r["experiment"] == 2 and r["model"] == model and r["phase"] == "batch"]
        if not mine:
            continue
        raw = Tokenizer.from_file(str(tok_path))
        for batch in sorted({r["batch"] for r in mine}):
            texts = [text(REQUEST_BYTES, i * 4099) for i in range(batch)]
            one, _ = timed(lambda: [raw.encode(t, add_special_tokens=False) for t in texts], a.reps, a.warmup)
            for threads in sorted({r["threads"] for r in mine if r["batch"] == batch}):
                rust = next(r for r in mine if r["batch"] == batch and r["threads"] == threads)
                with ThreadPoolExecutor(threads) as pool:
                    th, _ = timed(lambda: list(pool.map(lambda t: raw.encode(t, add_special_tokens=False), texts)),
                                  a.reps, a.warmup)
                with ProcessPoolExecutor(threads, initializer=_init_worker, initargs=(str(tok_path),)) as pool:
                    pr, _ = timed(lambda: list(pool.map(_encode_len, texts)), a.reps, a.warmup)
                os.environ["RAYON_NUM_THREADS"] = str(threads)
                eb, _ = timed(lambda: raw.encode_batch(texts, add_special_tokens=False), a.reps, a.warmup)
                rust_one = next(r for r in mine if r["batch"] == batch and r["threads"] == 1)["median_us"]
                print(f"| {model} | {batch} | {threads} | {rust['ratio']:.2f}x | {one / th:.2f}x | {one / pr:.2f}x | "
                      f"{one / eb:.2f}x | {rust_one / batch:.1f} | {one / batch:.1f} |")
    if noisy:
        print(f"\nwarning: {noisy} Python figures have a CV above 5%")


if __name__ == "__main__":
    main()
