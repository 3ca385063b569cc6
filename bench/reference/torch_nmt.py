"""PyTorch reference for s2s's speed figures: the same model, the same token ids.

A development tool (nothing a user runs needs Python). It reads what
bench/reference/export.ts writes, so training runs on exactly the batches
`npm run bench` trains on, and decoding on the same validation sentences and
the same trained weights as `npm run bench -- --checkpoint DIR`:

    node --import tsx bench/reference/export.ts --out /tmp/ref
    python3 bench/reference/torch_nmt.py /tmp/ref [--steps 30] [--threads 2]

The model is s2s's (src/model/): LSTM encoder (bidirectional with a tanh
bridge when the model is), Luong attention (dot or general), input feeding,
h~ = tanh(W_c [c; s]), p = softmax(W_s h~ + b_s), dropout on embeddings,
between layers and on h~; Adam with global-norm clipping; uniform init.
Written as PyTorch is fastest on a CPU: nn.LSTM over packed sequences for
the encoder, nn.LSTMCell steps for the decoder (input feeding forbids a
sequence op), one output product over all target positions in training,
inference_mode in decoding. Searches follow s2s's (src/decode/): greedy in
batches of 64 (or 1) sorted by source length, rows leaving the batch as
they end; beam 5 one sentence at a time, length-normalised scores, a search
ending when 5 hypotheses have finished or none can still win. Prints one
JSON line: training target tokens/s and decoding sentences/s.
"""

import argparse
import json
import math
import os
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

PAD, UNK, SOS, EOS = 0, 1, 2, 3
WARMUP_STEPS = 3


class Seq2Seq(nn.Module):
    def __init__(self, m):
        super().__init__()
        self.hidden = m["hidden"]
        self.layers = m["layers"]
        self.bidirectional = m["bidirectional"]
        self.attention = m["attention"]
        self.input_feeding = m["inputFeeding"]
        enc_out = 2 * self.hidden if self.bidirectional else self.hidden
        self.src_emb = nn.Embedding(m["srcVocab"], m["emb"])
        self.tgt_emb = nn.Embedding(m["tgtVocab"], m["emb"])
        self.encoder = nn.LSTM(m["emb"], self.hidden, m["layers"], batch_first=True, bidirectional=self.bidirectional)
        if self.bidirectional:
            self.bridge_h = nn.Linear(2 * self.hidden, self.hidden)
            self.bridge_c = nn.Linear(2 * self.hidden, self.hidden)
        first_in = m["emb"] + (self.hidden if self.input_feeding else 0)
        self.cells = nn.ModuleList([nn.LSTMCell(first_in if l == 0 else self.hidden, self.hidden) for l in range(self.layers)])
        if self.attention == "general":
            self.att_w = nn.Linear(enc_out, self.hidden, bias=False)
        elif self.attention != "dot":
            raise SystemExit(f"attention {self.attention}: only dot and general are written here")
        self.w_c = nn.Linear(enc_out + self.hidden, self.hidden, bias=False)
        self.w_s = nn.Linear(self.hidden, m["tgtVocab"])
        self.dropout = nn.Dropout(m.get("dropout", 0.0))

    def init_uniform(self, scale):
        for p in self.parameters():
            nn.init.uniform_(p, -scale, scale)

    def load_s2s(self, names_shapes, flat):
        """s2s's parameters (export.ts's params.bin): W [in, 4H] = weight_ihᵀ, same gate order i, f, g, o."""
        at = 0
        p = {}
        for e in names_shapes:
            n = int(np.prod(e["shape"]))
            p[e["name"]] = torch.from_numpy(flat[at : at + n].reshape(e["shape"]).copy())
            at += n
        with torch.no_grad():
            self.src_emb.weight.copy_(p["src_emb"])
            self.tgt_emb.weight.copy_(p["tgt_emb"])
            for l in range(self.layers):
                for d, suffix in enumerate(["", "_reverse"][: 2 if self.bidirectional else 1]):
                    pre = f"enc/l{l}/{'bw' if d else 'fw'}"
                    getattr(self.encoder, f"weight_ih_l{l}{suffix}").copy_(p[f"{pre}/W"].T)
                    getattr(self.encoder, f"weight_hh_l{l}{suffix}").copy_(p[f"{pre}/U"].T)
                    getattr(self.encoder, f"bias_ih_l{l}{suffix}").copy_(p[f"{pre}/b"])
                    getattr(self.encoder, f"bias_hh_l{l}{suffix}").zero_()
            if self.bidirectional:
                for gate in ["h", "c"]:
                    getattr(self, f"bridge_{gate}").weight.copy_(p[f"bridge/{gate}/W"].T)
                    getattr(self, f"bridge_{gate}").bias.copy_(p[f"bridge/{gate}/b"])
            for l, cell in enumerate(self.cells):
                w_in = torch.cat([p["dec/l0/W_emb"]] + ([p["dec/l0/W_feed"]] if self.input_feeding else []), 0) if l == 0 else p[f"dec/l{l}/W"]
                cell.weight_ih.copy_(w_in.T)
                cell.weight_hh.copy_(p[f"dec/l{l}/U"].T)
                cell.bias_ih.copy_(p[f"dec/l{l}/b"])
                cell.bias_hh.zero_()
            if self.attention == "general":
                self.att_w.weight.copy_(p["att/W"].T)
            self.w_c.weight.copy_(p["out/W_c"].T)
            self.w_s.weight.copy_(p["out/W_s"].T)
            self.w_s.bias.copy_(p["out/b_s"])

    def encode(self, src, lengths):
        """src [B, S] (PAD-padded), lengths [B] (cpu int64). Returns states, keys, mask bias [B, S] and the decoder's initial state."""
        emb = self.dropout(self.src_emb(src))
        packed = nn.utils.rnn.pack_padded_sequence(emb, lengths, batch_first=True, enforce_sorted=False)
        out, (h_n, c_n) = self.encoder(packed)
        states, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=src.shape[1])
        if self.bidirectional:
            h_n = h_n.view(self.layers, 2, -1, self.hidden)
            c_n = c_n.view(self.layers, 2, -1, self.hidden)
            init = [
                (torch.tanh(self.bridge_h(torch.cat([h_n[l, 0], h_n[l, 1]], 1))), torch.tanh(self.bridge_c(torch.cat([c_n[l, 0], c_n[l, 1]], 1))))
                for l in range(self.layers)
            ]
        else:
            init = [(h_n[l], c_n[l]) for l in range(self.layers)]
        keys = self.att_w(states) if self.attention == "general" else states
        mask_bias = (src == PAD).float() * -1e9
        return states, keys, mask_bias, init

    def step(self, emb, state, feed, states, keys, mask_bias):
        """One decoder step: emb [B, E], state per layer (h, c), feed h~_{t-1} [B, H] or None."""
        x = torch.cat([emb, feed], 1) if self.input_feeding else emb
        new_state = []
        for l, cell in enumerate(self.cells):
            if l > 0:
                x = self.dropout(x)
            h, c = cell(x, state[l])
            new_state.append((h, c))
            x = h
        scores = torch.bmm(keys, x.unsqueeze(2)).squeeze(2) + mask_bias
        alpha = torch.softmax(scores, 1)
        context = torch.bmm(alpha.unsqueeze(1), states).squeeze(1)
        attentional = self.dropout(torch.tanh(self.w_c(torch.cat([context, x], 1))))
        return attentional, new_state

    def loss(self, b):
        """Summed cross-entropy over real target tokens, divided by their count (s2s's trainStep)."""
        src, lengths, tgt_in, tgt_out = b["src"], b["lengths"], b["tgt_in"], b["tgt_out"]
        states, keys, mask_bias, state = self.encode(src, lengths)
        batch, tgt_len = tgt_in.shape
        embs = self.dropout(self.tgt_emb(tgt_in))
        feed = embs.new_zeros(batch, self.hidden)
        outs = []
        for t in range(tgt_len):
            feed, state = self.step(embs[:, t], state, feed, states, keys, mask_bias)
            outs.append(feed)
        logits = self.w_s(torch.stack(outs, 1).view(batch * tgt_len, self.hidden))
        return F.cross_entropy(logits, tgt_out.view(-1), ignore_index=PAD, reduction="sum") / b["tgt_tokens"]


def as_batch(b):
    size, src_len, tgt_len = b["size"], b["srcLen"], b["tgtLen"]
    src = torch.tensor(b["srcIds"], dtype=torch.long).view(size, src_len)
    tgt_out = torch.tensor(b["tgtOut"], dtype=torch.long).view(size, tgt_len)
    return {
        "src": src,
        "lengths": (src != PAD).sum(1).clamp(min=1),
        "tgt_in": torch.tensor(b["tgtIn"], dtype=torch.long).view(size, tgt_len),
        "tgt_out": tgt_out,
        "tgt_tokens": b["tgtTokens"],
    }


def bench_training(ref_dir, steps, seed):
    spec = json.load(open(os.path.join(ref_dir, "train.json")))
    m, t = spec["model"], spec["training"]
    dims = {
        "srcVocab": m["srcVocab"], "tgtVocab": m["tgtVocab"], "emb": m["embSize"], "hidden": m["hiddenSize"],
        "layers": m["layers"], "bidirectional": m["bidirectional"], "attention": m["attention"],
        "inputFeeding": m["inputFeeding"], "dropout": m["dropout"],
    }
    if m["tieOutput"] or t["labelSmoothing"] != 0 or t["batchTokens"] != 0:
        raise SystemExit("tied output, label smoothing and token batches are not written here")
    torch.manual_seed(seed)
    model = Seq2Seq(dims)
    model.init_uniform(m["initScale"])
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=t["lr"], betas=(t["beta1"], t["beta2"]), eps=1e-8)
    batches = [as_batch(b) for b in spec["batches"]]
    if len(batches) < WARMUP_STEPS + steps:
        raise SystemExit(f"train.json has {len(batches)} batches; export at least {WARMUP_STEPS + steps} (--steps)")
    ms, tok_per_sec = [], []
    for i in range(WARMUP_STEPS + steps):
        b = batches[i]
        start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = model.loss(b)
        loss.backward()
        if t["clipNorm"] > 0:
            nn.utils.clip_grad_norm_(model.parameters(), t["clipNorm"])
        opt.step()
        loss_value = loss.item()
        elapsed = time.perf_counter() - start
        if i >= WARMUP_STEPS:
            ms.append(elapsed * 1000)
            tok_per_sec.append(b["tgt_tokens"] / elapsed)
    return {"msPerStep": round(statistics.median(ms), 1), "tgtTokPerSec": round(statistics.median(tok_per_sec)), "lastLoss": round(loss_value, 4)}


def output_limit(src_len, d):
    return max(0, min(d["maxOutputLen"], math.floor(d["maxLenRatio"] * src_len + d["maxLenExtra"])))


def greedy(model, sources, d, batch_size):
    """Greedy search in batches sorted by source length (longest first); a row leaves the batch at <eos> or its limit."""
    results = [None] * len(sources)
    order = sorted(range(len(sources)), key=lambda i: (-len(sources[i]), i))
    for at in range(0, len(order), batch_size):
        idx = order[at : at + batch_size]
        src_len = max(1, max(len(sources[i]) for i in idx))
        src = torch.full((len(idx), src_len), PAD, dtype=torch.long)
        for r, i in enumerate(idx):
            src[r, : len(sources[i])] = torch.tensor(sources[i], dtype=torch.long)
        lengths = (src != PAD).sum(1).clamp(min=1)
        states, keys, mask_bias, state = model.encode(src, lengths)
        limits = [output_limit(len(sources[i]), d) for i in idx]
        outs = [[] for _ in idx]
        rows = [r for r in range(len(idx)) if limits[r] > 0]
        if len(rows) < len(idx):
            keep = torch.tensor(rows, dtype=torch.long)
            states, keys, mask_bias = states[keep], keys[keep], mask_bias[keep]
            state = [(h[keep], c[keep]) for h, c in state]
        feed = states.new_zeros(len(rows), model.hidden)
        prev = torch.full((len(rows),), SOS, dtype=torch.long)
        while rows:
            feed, state = model.step(model.tgt_emb(prev), state, feed, states, keys, mask_bias)
            logits = model.w_s(feed)
            logits[:, PAD] = -math.inf
            logits[:, SOS] = -math.inf
            tokens = logits.argmax(1).tolist()
            continuing = []
            for k, r in enumerate(rows):
                if tokens[k] == EOS:
                    continue
                outs[r].append(tokens[k])
                if len(outs[r]) < limits[r]:
                    continuing.append(k)
            if not continuing:
                break
            if len(continuing) < len(rows):
                keep = torch.tensor(continuing, dtype=torch.long)
                states, keys, mask_bias, feed = states[keep], keys[keep], mask_bias[keep], feed[keep]
                state = [(h[keep], c[keep]) for h, c in state]
            prev = torch.tensor([tokens[k] for k in continuing], dtype=torch.long)
            rows = [rows[k] for k in continuing]
        for r, i in enumerate(idx):
            results[i] = outs[r]
    return results


def normalised(log_prob, length, alpha):
    return log_prob if alpha == 0 else log_prob / max(1, length) ** alpha


def beam_one(model, source, d, k):
    """Beam search over one sentence: k rows, each row's best tokens, the sentence's k best extensions."""
    alpha = d["lengthPenalty"]
    limit = output_limit(len(source), d)
    if limit == 0:
        return []
    src = torch.tensor([source or [PAD]], dtype=torch.long)
    states1, keys1, mask1, state = model.encode(src, torch.tensor([max(1, len(source))]))
    states, keys, mask_bias = states1, keys1, mask1
    feed = states.new_zeros(1, model.hidden)
    live = [([], 0.0)]  # (tokens, logProb)
    finished, cut_off = [], []
    prev = torch.tensor([SOS], dtype=torch.long)
    while live:
        rows = len(live)
        if states.shape[0] != rows:
            states, keys, mask_bias = states1.expand(rows, -1, -1), keys1.expand(rows, -1, -1), mask1.expand(rows, -1)
        feed, state = model.step(model.tgt_emb(prev), state, feed, states, keys, mask_bias)
        logp = torch.log_softmax(model.w_s(feed), 1)
        logp[:, PAD] = -math.inf
        logp[:, SOS] = -math.inf
        top_lp, top_tok = logp.topk(k, 1)
        total = (torch.tensor([lp for _, lp in live]).unsqueeze(1) + top_lp).view(-1)
        best = total.topk(min(k, total.numel())).indices.tolist()
        top_tok = top_tok.view(-1).tolist()
        total = total.tolist()
        next_live, parents = [], []
        for c in best:
            row, token, lp = c // k, top_tok[c], total[c]
            tokens = live[row][0]
            if token == EOS:
                finished.append((tokens, normalised(lp, len(tokens) + 1, alpha)))
            elif len(tokens) + 1 >= limit:
                cut_off.append((tokens + [token], normalised(lp, len(tokens) + 1, alpha)))
            else:
                next_live.append((tokens + [token], lp))
                parents.append(row)
        if len(finished) >= k or not next_live:
            break
        if finished and max(s for _, s in finished) >= max(normalised(lp, limit, alpha) for _, lp in next_live):
            break
        at = torch.tensor(parents, dtype=torch.long)
        state = [(h[at], c[at]) for h, c in state]
        feed = feed[at]
        live = next_live
        prev = torch.tensor([t[-1] for t, _ in live], dtype=torch.long)
    ended = finished or cut_off
    return max(ended, key=lambda e: e[1])[0] if ended else []


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def bench_decoding(ref_dir):
    spec = json.load(open(os.path.join(ref_dir, "decode.json")))
    model = Seq2Seq({**spec["model"], "dropout": 0.0})
    model.load_s2s(spec["params"], np.fromfile(os.path.join(ref_dir, "params.bin"), dtype=np.float32))
    model.eval()
    d, sources = spec["decoding"], spec["sources"]
    out = {}
    with torch.inference_mode():
        for key, run in [
            ("greedy64", lambda s: greedy(model, s, d, 64)),
            ("greedy1", lambda s: greedy(model, s, d, 1)),
            ("beam5b1", lambda s: [beam_one(model, x, d, 5) for x in s]),
        ]:
            run(sources[:2])
            result, seconds = timed(lambda: run(sources))
            out[key] = {"sentPerSec": round(len(sources) / seconds, 1), "meanLen": round(sum(map(len, result)) / len(result), 2)}
            if key == "greedy64":
                same = sum(a == b for a, b in zip(result, spec["greedy"]))
                out["greedySameAsS2s"] = f"{same}/{len(sources)}"
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("ref_dir")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--skip", default="", help="comma-separated: train, decode")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    skip = set(filter(None, a.skip.split(",")))
    result = {"implementation": f"pytorch {torch.__version__}", "threads": a.threads, "loadavg": os.getloadavg()[0]}
    if "train" not in skip:
        result["train"] = bench_training(a.ref_dir, a.steps, a.seed)
    if "decode" not in skip and os.path.exists(os.path.join(a.ref_dir, "decode.json")):
        result.update(bench_decoding(a.ref_dir))
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
