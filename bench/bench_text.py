#!/usr/bin/env python3
"""WordPiece batch encoding: tessel vs Hugging Face `tokenizers`, same thread count.

A ~10 MB mixed corpus (English-like words, accents, CJK, emoji, punctuation)
is generated with a fixed seed; a 30k WordPiece vocabulary is trained on part
of it with `tokenizers` (BertWordPieceTokenizer, lowercase) and saved as
tokenizer.json, which both libraries then load.

tessel: tok.encode_batch(texts, padding="longest", num_threads=N)
HF:     tok.encode_batch(texts) in a subprocess with RAYON_NUM_THREADS=N (rayon
        reads it once, at its first parallel call), padding enabled likewise.

Reports MB/s of both, the speed ratio tessel/HF (> 1.00 = tessel faster) and,
as the other bench scripts do, the time ratio (< 1.00 = tessel faster).

    .venv/bin/python bench/bench_text.py [--quick] [--threads 1,2] [--mb 10]
"""
import json
import os
import random
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402


def make_corpus(mb, seed=0):
    rng = random.Random(seed)
    syll = ["ka", "to", "ri", "an", "ing", "er", "the", "ed", "on", "st", "pre", "ly", "ion", "ous", "co", "mp"]
    words = ["".join(rng.choice(syll) for _ in range(rng.randint(1, 4))) for _ in range(20000)]
    extras = ["café", "naïve", "Straße", "日本語", "中文", "한국어", "😀", "👍", "résumé", "Ὀδυσσεύς", "Привет",
              "don't", "U.S.A.", "3.14", "2024", "e-mail", "(see", "below)", "—", "«quoted»"]
    texts, size = [], 0
    while size < mb * 1_000_000:
        n = rng.randint(10, 120)
        parts = []
        for _ in range(n):
            w = rng.choice(extras) if rng.random() < 0.08 else rng.choice(words)
            if rng.random() < 0.1:
                w = w.capitalize()
            parts.append(w)
            if rng.random() < 0.07:
                parts.append(rng.choice([",", ".", "!", "?", ";", ":"]))
        t = " ".join(parts)
        texts.append(t)
        size += len(t.encode())
    return texts


def hf_worker(path, corpus, threads, repeat):
    os.environ["RAYON_NUM_THREADS"] = str(threads)
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(path)
    tok.enable_padding(pad_id=tok.token_to_id("[PAD]"), pad_token="[PAD]")
    with open(corpus) as f:
        texts = json.load(f)
    tok.encode_batch(texts[:2000])  # warm-up (and start rayon's pool)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = tok.encode_batch(texts)
        best = min(best, time.perf_counter() - t0)
    print(json.dumps({"seconds": best, "tokens": sum(sum(e.attention_mask) for e in out)}))


def main():
    p = common.base_parser(__doc__.splitlines()[0])
    p.add_argument("--mb", type=float, default=10.0, help="corpus size in MB (default 10)")
    p.add_argument("--worker", nargs=3, help=argparse_hidden())
    args = p.parse_args()
    if args.worker:
        hf_worker(args.worker[0], args.worker[1], int(args.worker[2]), 1 if args.quick else 3)
        return
    ts = common.import_tessel()
    try:
        from tokenizers import BertWordPieceTokenizer
    except ImportError:
        raise SystemExit("HF `tokenizers` is not installed: nothing to compare with")
    mb = 1.0 if args.quick else args.mb
    repeat = 1 if args.quick else 3
    threads = common.parse_threads(args.threads)
    common.print_machine(common.machine_info(ts=ts))

    texts = make_corpus(mb)
    nbytes = sum(len(t.encode()) for t in texts)
    d = tempfile.mkdtemp(prefix="bench_text_")
    trainer = BertWordPieceTokenizer(lowercase=True)
    trainer.train_from_iterator(texts[: max(1, len(texts) // 5)], vocab_size=30000)
    trainer.save_model(d)
    hf = BertWordPieceTokenizer(os.path.join(d, "vocab.txt"), lowercase=True)
    path = os.path.join(d, "tokenizer.json")
    hf.save(path)
    corpus = os.path.join(d, "corpus.json")
    with open(corpus, "w") as f:
        json.dump(texts, f)
    print(f"corpus: {len(texts)} texts, {nbytes / 1e6:.1f} MB; vocabulary {hf.get_vocab_size()} WordPiece tokens")

    tok = ts.text.Tokenizer.from_file(path)
    rows = []
    for n in threads:
        tok.encode_batch(texts[:2000], num_threads=n)
        best = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            out = tok.encode_batch(texts, num_threads=n)
            best = min(best, time.perf_counter() - t0)
        ts_tokens = int(out["attention_mask"].sum().item())
        res = subprocess.run([sys.executable, __file__, "--worker", path, corpus, str(n)] + (["--quick"] if args.quick else []),
                             capture_output=True, text=True, check=True)
        hf_res = json.loads(res.stdout.strip().splitlines()[-1])
        same = "yes" if hf_res["tokens"] == ts_tokens else f"NO ({ts_tokens} vs {hf_res['tokens']})"
        ts_mbs, hf_mbs = nbytes / best / 1e6, nbytes / hf_res["seconds"] / 1e6
        rows.append([n, f"{ts_mbs:.1f}", f"{hf_mbs:.1f}", f"{ts_mbs / hf_mbs:.2f}x", f"{hf_mbs / ts_mbs:.2f}x", same])
    common.print_table(["threads", "tessel MB/s", "HF MB/s", "speed tessel/HF", "time tessel/HF", "same token count"],
                       rows,
                       title="WordPiece encode_batch (padding=longest), best of %d" % repeat)


def argparse_hidden():
    import argparse
    return argparse.SUPPRESS


if __name__ == "__main__":
    main()
