#!/usr/bin/env python3
"""Golden token ids for asm-tok from the real CLAP-ASM tokenizer.json, with
HuggingFace `tokenizers` (the Rust library transformers' fast tokenizers
wrap).  CLAP's AsmTokenizer.tokenize_function (reference/clap-asm.md §3.1)
is mirrored here: commas deleted, no special tokens, first 20 tokens an
instruction, first 1024 a function, token type = id of "INSTR"+key or the
[UNK] id.

Usage: tests/gen/clap_tok_golden.py [../shared] > tests/golden/clap_tok.jsonl
Each output line is a JSON object:
  {"text": s, "ids": [...], "instr": [...]}      one text: ids whole (commas kept, no cut);
                                                 instr as CLAP encodes one instruction
  {"func": "bubblesort.json", "ids": [...], "types": [...]}   a case-study function
  {"instrs": [...], "ids": [...], "types": [...]}             an inline function
"""
import json
import os
import random
import sys

from tokenizers import Tokenizer

shared = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../../../shared")
tok = Tokenizer.from_file(os.path.join(shared, "vendor/clap-asm/tokenizer.json"))
tok.no_padding()
tok.no_truncation()
UNK = tok.token_to_id("[UNK]")


def ids(s):
    return tok.encode(s, add_special_tokens=False).ids


def func(d, max_len=1024):
    toks, types = [], []
    for k, v in d.items():
        t = ids(v.replace(",", ""))[:20]
        ty = tok.token_to_id("INSTR" + k)
        toks += t
        types += [UNK if ty is None else ty] * len(t)
        if len(toks) > max_len:
            toks, types = toks[:max_len], types[:max_len]
            break
    return toks, types


out = sys.stdout
for name in ("bubblesort.json", "sha3.json", "malware.json"):
    with open(os.path.join(shared, "vendor/clap-casestudy", name)) as f:
        d = json.load(f)
    a, b = func(d)
    out.write(json.dumps({"func": name, "ids": a, "types": b}) + "\n")

texts = [
    # reference/clap-asm.md §3.4 single-instruction examples
    "mov     [ebp+pbmi.bmiHeader.biSize], 28h ; '('",
    "call    ds:GdiplusStartup",
    "mov     eax, ___security_cookie",
    "mov     [ebp+var_84], 0B35DDD9Ch",
    "vmovdqu ymm0, ymmword ptr [rsp+20h]",
    "je      loc_401000",
    # added tokens (raw, case-sensitive, leftmost-longest) and normalized <unk>
    "INSTR1025 xINSTR5y INSTR1024INSTR1 instr14 Instr3",
    "<UNK> <unk> [UNK] [unk] <s></s><pad> a<mask>b  <mask> <MASK>",
    "jmp short INSTR0 INSTR00 INSTR01",
    # whitespace, controls, punctuation
    "mov\teax,\r\nebx\x0b\x0cecx\x00edx\x7f",
    "a!b\"c#d$e%f&g'h(i)j*k+l-m.n/o:p;q<r=s>t?u@v[w\\x]y^z_{|}~`",
    # Unicode: accents, case, controls, CJK, unassigned, punctuation
    "Ÿ É ñ Å ǅ İstanbul ﬁ ß Σίσυφος",
    "a\u00adb a\u200bb a\ue000b a\u0378b a\u0085b a\u00a0b x\u3000y \ufffd",
    "中文 mov eax, 中国\u4e00\u9fff\u3400\U00020000\U0002b820\U0002b920\uf900\U0002f800",
    "«quoted» ‘x’ “y” — – … ¿ ¡ · § ¶ ° © ®",
    "\U0001f600 emoji \U0001f600x",
    # long words and the 100-character limit
    "a" * 99 + " " + "b" * 100 + " " + "c" * 101,
    "0" * 100 + " " + "0" * 101,
    "qwertyuiopasdfghjklzxcvbnm_0123456789abcdef",
    "",
    "   ",
    ",,,",
]
# instruction texts as asm-tok renders libc.a (and some as objdump prints
# them): inputs only, listed in tests/golden/clap_tok_instrs.txt
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "../golden/clap_tok_instrs.txt")) as f:
    texts += [l.rstrip("\n") for l in f]
for s in texts:
    out.write(json.dumps({"text": s, "ids": ids(s), "instr": ids(s.replace(",", ""))[:20]},
                         ensure_ascii=True) + "\n")

# a function with a 0-based key, keys beyond 1024, an instruction over 20
# tokens, and truncation at exactly the limit
f = {"0": "push    rbp", "1": "mov     rbp, rsp",
     "2": "lea     rdi, aVeryLongStringLiteralNameThatGoesOnAndOnForeverAndEver ; \"very long string literal that goes on and on\"",
     "1024": "retn", "1025": "nop", "x": "leave"}
a, b = func(f)
out.write(json.dumps({"instrs": list(f.values()), "keys": list(f.keys()), "ids": a, "types": b}) + "\n")

# random functions over a pool of hard pieces: added-token fragments, case,
# accents, CJK, controls, unassigned and private-use code points, odd keys
random.seed(11)
pool = list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 \t\n\r,.;:[]+-*_#$%&'\"()<>/\\|!?@^`{}~") + \
    ["INSTR", "INSTR1", "INSTR10", "INSTR1024", "<unk>", "<UNK>", "[UNK]", "<s>", "</s>", "<pad>", "<mask>", "##",
     "rax", "0CCh", "var_", "loc_", "\u00e9", "\u00c9", "\u00f1", "\u00fc", "\u00c5", "\u01c5", "\u0130", "\u00df",
     "\ufb01", "\u03a3", "\u03c2", "\u03ac", "\u4e2d", "\u6587", "\u65e5\u672c", "\ud55c\uad6d", "\u00ad", "\u200b",
     "\ufeff", "\ue000", "\u0378", "\u0085", "\u00a0", "\u3000", "\u2028", "\x00", "\x01", "\x1f", "\x7f", "\ufffd",
     "\U0001f600", "\u00ab", "\u00bb", "\u2014", "\u2026", "\u00bf", "\u00b0", "\u00a9", "\u0301", "\u0308", "a\u0301",
     "\U00020000", "\U0002b820", "\uff9f", "\uff71", "\u216b", "\u2460", "\u210c", "\u1e9e", "\u2126", "\u212b"]
for _ in range(60):
    n = random.randint(1, 8)
    if random.random() < 0.15:
        keys = [random.choice(["0", "1025", "x", "01", " 1", "1024", "7"]) for _ in range(n)]
    else:
        keys = [str(k + 1) for k in range(n)]
    d = {}
    for k in keys:
        d[k] = "".join(random.choice(pool) for _ in range(random.randint(0, 24)))
    a, b = func(d)
    out.write(json.dumps({"instrs": list(d.values()), "keys": list(d.keys()), "ids": a, "types": b}) + "\n")
