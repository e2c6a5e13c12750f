"""The table of ``bench_defaults.py``: markdown rows, the block between the markers of
``docs/defaults.md``, and ``--merge`` of a partial run into an earlier one."""

import json
import os

START, END = "<!-- table:start -->", "<!-- table:end -->"


def _fmt(x, spec):
    return "—" if x is None else format(x, spec)


def table(rows):
    head = (
        "| member | kind | d | K | kernel | s | grads | min bulk ESS | ESS / 1k grads | max r̂ "
        "| div. | finite | TV / max z | criterion |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for r in rows:
        err = _fmt(r.get("tv"), ".3f") if r["kind"] == "mixture" else _fmt(r.get("max_z"), ".1f")
        verdict = "pass" if r["pass"] else "fail"
        verdict = f"**{verdict}**" if r["applies"] else f"({verdict})"
        kernel = r["kernel"] + (
            f" ({r['patch_size']}, {r['conditional']})" if r["patch_size"] else ""
        )
        lines.append(
            f"| {r['member']} | {r['kind']} | {r['dim']} | {r['K'] or '—'} | {kernel} | "
            f"{r['seconds']:.1f} | {r['grads']:,} | {_fmt(r['ess_bulk_min'], '.0f')} | "
            f"{_fmt(r['ess_per_1000_grads'], '.3g')} | {_fmt(r['max_rhat'], '.3f')} | "
            f"{r['divergences']} | {'yes' if r['finite'] else '**no**'} | {err} | {verdict} |"
        )
    return head + "\n".join(lines) + "\n"


def write_doc(path, config, rows):
    ok = [r for r in rows if r["applies"]]
    text = (
        f"Measured {config['date']} on {config['machine']}; numpyro_cld "
        f"{config['version']}; {config['sizes']['num_warmup']} warmup + "
        f"{config['sizes']['num_samples']} draws x {config['sizes']['num_chains']} chains"
        f"{' (**--quick**)' if config['quick'] else ''}; total {config['seconds']:.0f} s. "
        f"Criteria passed: **{sum(r['pass'] for r in ok)} / {len(ok)}**.\n\n"
        + "".join(f"Updated: {n}.\n\n" for n in config.get("remeasured", []))
        + f"Defaults now: `Langevin` {_defaults_str(config['defaults']['Langevin'])}; "
        f"`ChainedLangevin` {_defaults_str(config['defaults']['ChainedLangevin'])}.\n\n"
    )
    block = f"{START}\n{text}{table(rows)}{END}"
    doc = open(path).read() if os.path.exists(path) else f"# Defaults\n\n{START}\n{END}\n"
    if START in doc and END in doc:
        doc = doc[: doc.index(START)] + block + doc[doc.index(END) + len(END) :]
    else:
        doc = doc.rstrip("\n") + "\n\n" + block + "\n"
    with open(path, "w") as f:
        f.write(doc)


def _defaults_str(d):
    keys = ("step_size", "num_steps", "steps_per_patch", "adjust", "conditional", "sigmas")
    return ", ".join(f"`{k}={d[k]!r}`" for k in keys if k in d)


def previous_run(out):
    path = os.path.join(out, "defaults.json")
    if not os.path.exists(path):
        raise SystemExit(f"--merge needs an earlier full run in {path}")
    with open(path) as f:
        return json.load(f)


def merged_rows(old, config, rows):
    """Old rows with the rows of this run in their place; the old configuration stays the
    table's header, with a note of what was re-measured, when, and in how many seconds."""
    new = {(r["member"], r["kernel"]): r for r in rows}
    merged = [new.pop((r["member"], r["kernel"]), r) for r in old["rows"]] + list(new.values())
    cfg = dict(old["config"])
    kernels = sorted({r["kernel"] for r in rows})
    note = (
        f"{len(rows)} rows ({', '.join(kernels)}) re-measured {config['date']} in "
        f"{config['seconds']:.0f} s with the defaults "
        + "; ".join(f"`{k}` {_defaults_str(v)}" for k, v in config["defaults"].items())
    )
    cfg["remeasured"] = cfg.get("remeasured", []) + [note]
    cfg["defaults"] = config["defaults"]
    return cfg, merged
