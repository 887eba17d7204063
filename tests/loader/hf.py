"""hf.py - the loaders users run (PyTorch, transformers, safetensors.torch),
for tests/loader/hf.sh.

    hf.py llama OUT SEED [BASE]   a tiny Llama (random weights, transformers'
                                  own LlamaConfig), saved sharded with
                                  save_pretrained; with BASE, BASE's weights
                                  with the final norm changed (a new
                                  revision where only the shard holding it
                                  changes)
    hf.py logits REPO OUT [REV]   from_pretrained(REPO) by repo id from the
                                  cache in HF_HUB_CACHE (HF_HUB_OFFLINE=1);
                                  the logits of a fixed input, raw float32
                                  bytes, to OUT
    hf.py tensors ORIG MNT        every .safetensors of ORIG's snapshots
                                  against the same path under MNT:
                                  safetensors.torch.load_file of both, and
                                  safe_open(..., "pt") slices, byte for byte
"""
import os
import sys

import torch


def llama(out, seed, base=None):
    from transformers import LlamaConfig, LlamaForCausalLM

    if base:
        m = LlamaForCausalLM.from_pretrained(base, torch_dtype=torch.bfloat16)
        with torch.no_grad():
            m.model.norm.weight.mul_(1.5)
    else:
        torch.manual_seed(int(seed))
        cfg = LlamaConfig(vocab_size=1024, hidden_size=128, intermediate_size=352,
                          num_hidden_layers=4, num_attention_heads=4,
                          num_key_value_heads=2, max_position_embeddings=256,
                          torch_dtype="bfloat16")
        m = LlamaForCausalLM(cfg).to(torch.bfloat16)
    m.save_pretrained(out, safe_serialization=True, max_shard_size="400KB")
    shards = [n for n in os.listdir(out) if n.endswith(".safetensors")]
    if len(shards) < 2:
        sys.exit(f"expected a sharded checkpoint, got {shards}")


def logits(repo, out, rev=None):
    from transformers import AutoModelForCausalLM

    m = AutoModelForCausalLM.from_pretrained(repo, revision=rev)
    m.eval()
    ids = torch.tensor([[1, 17, 256, 511, 3, 900, 42, 7]])
    with torch.no_grad():
        y = m(input_ids=ids).logits.float()
    with open(out, "wb") as f:
        f.write(y.numpy().tobytes())
    print(f"{repo}{'@' + rev if rev else ''}: logits {tuple(y.shape)}, "
          f"{sum(p.numel() for p in m.parameters())} parameters")


def same(a, b):
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.numel() == 0:
        return True
    return torch.equal(a.reshape(-1).view(torch.uint8), b.reshape(-1).view(torch.uint8))


def tensors(orig, mnt):
    from safetensors import safe_open
    from safetensors.torch import load_file

    files = n = slices = 0
    bad = []
    for root, _, names in os.walk(orig):
        if "/snapshots/" not in root + "/":
            continue
        for name in sorted(names):
            if not name.endswith(".safetensors"):
                continue
            a = os.path.join(root, name)
            b = os.path.join(mnt, os.path.relpath(a, orig))
            files += 1
            ta, tb = load_file(a), load_file(b)
            if sorted(ta) != sorted(tb):
                bad.append(f"{b}: tensor names differ")
                continue
            for k in ta:
                n += 1
                if not same(ta[k], tb[k]):
                    bad.append(f"{b}: load_file: {k} differs")
            with safe_open(b, framework="pt") as f:
                for k in f.keys():
                    t = ta[k]
                    if t.dim() == 0 or t.shape[0] < 2:
                        continue
                    lo, hi = t.shape[0] // 3, t.shape[0] // 3 + max(1, t.shape[0] // 4)
                    s = f.get_slice(k)[lo:hi]
                    slices += 1
                    if not same(s, t[lo:hi]):
                        bad.append(f"{b}: safe_open slice [{lo}:{hi}] of {k} differs")
    for m in bad[:20]:
        print("DIFF", m)
    print(f"{files} files, {n} tensors by load_file, {slices} safe_open slices compared")
    return 1 if bad or files == 0 else 0


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "llama":
        llama(*args)
    elif cmd == "logits":
        logits(*args)
    elif cmd == "tensors":
        sys.exit(tensors(*args))
    else:
        sys.exit(__doc__)
