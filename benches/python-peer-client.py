#!/usr/bin/env python3
"""A typical Python streaming client (asyncio + aiohttp, as in `vllm bench serve`), for
benches/client-capacity.sh to compare with: it sends the same kind of streaming chat
requests to `nativebench serve --stamp-chunks` at a fixed concurrency and prints one JSON
line with tokens/s ingested, CPU per token, and the delivery latency of every content
chunk (server's send stamp -> the client has parsed the chunk), on the same monotonic
clock the server stamps with.

    python3 benches/python-peer-client.py URL CONCURRENCY NUM_REQUESTS OUTPUT_LEN
"""

import asyncio
import json
import sys
import time

import aiohttp


def now_ns():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


async def one(session, url, output_len, delivery):
    body = {
        "model": "sim",
        "messages": [{"role": "user", "content": "Say something."}],
        "max_tokens": output_len,
        "ignore_eos": True,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    tokens = 0
    async with session.post(url, json=body) as resp:
        resp.raise_for_status()
        async for line in resp.content:
            if not line.startswith(b"data: "):
                continue
            data = line[6:].strip()
            if data == b"[DONE]":
                break
            chunk = json.loads(data)
            choices = chunk.get("choices") or []
            if choices and (choices[0].get("delta") or {}).get("content"):
                tokens += 1
                sent = chunk.get("nb_sent_ns")
                if sent is not None:
                    delivery.append(now_ns() - sent)
    return tokens


async def main():
    base, conc, n, output_len = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    url = base.rstrip("/") + "/chat/completions"
    connector = aiohttp.TCPConnector(limit=conc)
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        sem = asyncio.Semaphore(conc)

        async def bounded(delivery):
            async with sem:
                return await one(session, url, output_len, delivery)

        await asyncio.gather(*(bounded([]) for _ in range(conc)))  # warmup
        delivery = []
        cpu0, t0 = time.process_time(), time.perf_counter()
        tokens = sum(await asyncio.gather(*(bounded(delivery) for _ in range(n))))
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    delivery.sort()

    def q(p):
        return delivery[min(len(delivery) - 1, int(p * len(delivery)))] / 1e3 if delivery else None

    print(json.dumps({
        "client": f"python {sys.version.split()[0]} aiohttp {aiohttp.__version__}",
        "concurrency": conc,
        "tokens": tokens,
        "tok_s": tokens / wall,
        "client_cpu_us_per_tok": cpu / max(tokens, 1) * 1e6,
        "delivery_p50_us": q(0.5),
        "delivery_p99_us": q(0.99),
    }))


if __name__ == "__main__":
    asyncio.run(main())
