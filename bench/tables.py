"""``python -m bench`` results as (measure, figure) rows for the terminal and the README."""
from __future__ import annotations


def _lat(r: dict) -> str:
    return f"p50 {r['p50_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms (n={r['n']})"


def _served(size: str, s: dict, clients: int) -> list[tuple[str, str]]:
    h = s["health"]
    rows = [(f"{size} memos: memos / chunks / vectors", f"{h['memos']} / {h['chunks']} / {h['vectors']}"),
            (f"{size} memos: server start-up", f"{s['startup_s']} s")]
    if "ingest_http" in s:
        i = s["ingest_http"]
        rows.append((f"{size} memos: ingest over HTTP, {i['clients']} client",
                     f"{i['memos_per_s']} memos/s, {i['chunks_per_s']} chunks/s ({i['memos']} memos in {i['seconds']} s)"))
    for key in ("ask_1_client", f"ask_{clients}_clients"):
        a = s[key]
        rows.append((f"{size} memos: /ask, {a['clients']} client(s)",
                     f"{_lat(a)}; {a['requests_per_s']} req/s; abstained {a['abstained']:.0%}"))
    b = s["brief"]
    rows.append((f"{size} memos: brief uncached, 1 client", _lat(b["uncached"])))
    rows.append((f"{size} memos: brief cached, 1 client", _lat(b["cached_1_client"])))
    rows.append((f"{size} memos: brief cached, {clients} clients", _lat(b[f"cached_{clients}_clients"])))
    rows.append((f"{size} memos: server peak RSS", f"{s['server_peak_rss_mb']:.0f} MB"))
    return rows


def rows(result: dict) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    m = result["machine"]
    out.append(("machine", f"{m['cpus']} CPUs, Python {m['python']}, load average at start {m['load_average_at_start']}"))
    for name, e in result["embedders"].items():
        agree = next((f"; cosine to {k[10:]} min {v['min']}" for k, v in e.items() if k.startswith("cosine_to_")), "")
        out.append((f"embedder {name} ({e['model']})",
                    f"load {e['load_s']} s; one question p50 {e['query']['p50_ms']:.1f} ms; "
                    f"{e['texts_per_s']} texts/s over {e['texts']} memo sentences+chunks{agree}"))
    clients = result["options"]["clients"]
    for size, s in result["served"].items():
        out.extend(_served(size, s, clients))
    for i in result.get("ingest_cli", []):
        out.append(("memo ingest (batched)", f"{i['memos_per_s']} memos/s, {i['chunks_per_s']} chunks/s "
                                              f"({i['memos']} memos in {i['seconds']} s; {i['wall_s_with_startup']} s with start-up)"))
    if "peer" in result:
        p, ours, r = result["peer"]["txtai"], result["peer"]["ours_search"], result["peer"]["ratios"]
        out.append((f"peer {p['package']}: index build", f"{p['build_s']} s for {p['texts']} chunks = {p['chunks_per_s']} chunks/s"))
        out.append((f"peer {p['package']}: search (embed + ANN), 1 client", _lat(p["search"])))
        out.append(("ours in process: dense search (embed + FAISS)", _lat(ours["dense"])))
        out.append(("ours in process: hybrid search (+ BM25, fusion)", _lat(ours["hybrid"])))
        out.append(("ratio ingest chunks/s, ours (HTTP) / txtai", f"{r['ingest_chunks_per_s_ours_over_txtai']}x"))
        out.append(("ratio search latency txtai / ours (dense), p50 / p95",
                    f"{r['search_p50_txtai_over_ours_dense']}x / {r['search_p95_txtai_over_ours_dense']}x"))
    v = result["vectors"]
    for size in v["sizes"]:
        n = f"{size['vectors']:,} vectors"
        f = size["flat"]
        out.append((f"{n}: Flat (exact)", f"{_lat(f)}; build {f['build_s']} s"))
        ivf = size["ivf"]
        for nprobe, r in ivf["by_nprobe"].items():
            served = " (served)" if int(nprobe) == ivf["served_nprobe"] else ""
            out.append((f"{n}: IVF{ivf['nlist']} nprobe {nprobe}{served}",
                        f"{_lat(r)}; recall@10 {r['recall_at_10']}; build {ivf['build_s']} s"))
        if "hnsw32" in size:
            h = size["hnsw32"]
            for ef, r in h["by_ef_search"].items():
                out.append((f"{n}: HNSW32 efSearch {ef}", f"{_lat(r)}; recall@10 {r['recall_at_10']}; build {h['build_s']} s"))
    out.append(("whole run", f"{result['duration_s']:.0f} s ({', '.join(f'{k} {v:.0f} s' for k, v in result['sections_s'].items())})"))
    return out
