"""The optional LLM advisor (off by default): the agent posts the profile and
the leaderboard to an OpenAI-compatible chat endpoint and reads back a JSON
object with search-space changes and a prose explanation. urllib only; any
failure (refused connection, timeout, malformed reply) gives no advice and
the agent goes on without it.

    AutoML(advisor="http://127.0.0.1:8000/v1", advisor_model="qwen2.5-7b-instruct")

The reply's message content must be a JSON object (a ```json fence around it
is accepted):

    {"families": ["mlp"],
     "space": {"lr": {"low": 1e-3, "high": 1e-2}, "mlp.width": {"choices": [64, 128]}},
     "explanation": "Small clean table: a narrower MLP and a higher learning rate."}

`families` must be families the data's modality takes, `space` keys are the
agent's parameter names (plan.SPACES as FAMILY.KEY, plan.COMMON as KEY) with
`low`/`high` (int, float, log dims) or `choices` (categorical dims, values of
the same type). Anything else is ignored with a warning.
"""
import dataclasses
import json
import math
import re
import urllib.error
import urllib.request
import warnings

from . import plan

__all__ = ["Advice", "ask", "parse_advice", "SYSTEM_PROMPT"]

SYSTEM_PROMPT = (
    "You advise an AutoML agent. Given a data profile and a leaderboard of trials, answer with ONE JSON object: "
    '{"families": [...], "space": {"PARAM": {"low": x, "high": y} or {"choices": [...]}}, "explanation": "..."}. '
    "families: a subset of the allowed families. space: changes to the allowed parameters only. "
    "explanation: a few sentences on the data and the results, for the report.")


@dataclasses.dataclass
class Advice:
    families: tuple = None        # validated families, or None (no change)
    space: dict = dataclasses.field(default_factory=dict)   # {param: Dim}
    explanation: str = ""
    warnings: list = dataclasses.field(default_factory=list)
    raw: str = ""

    def to_dict(self):
        return {"families": list(self.families) if self.families else None,
                "changes": {k: _dim_dict(d) for k, d in self.space.items()},
                "explanation": self.explanation, "warnings": list(self.warnings)}


def _dim_dict(d):
    return {"choices": list(d.choices)} if d.kind == "cat" else {"low": d.low, "high": d.high, "kind": d.kind}


def _dims(families):
    out = {d.name: d for d in plan.COMMON}
    for f in families:
        out.update({f"{f}.{d.name}": d for d in plan.SPACES[f]})
    return out


def _warn(advice, msg):
    advice.warnings.append(msg)
    warnings.warn(f"advisor: {msg}", stacklevel=3)


def _content_json(text):
    text = text.strip()
    m = re.search(r"```(?:json)?\s*(.*?)```", text, re.S)
    if m:
        text = m.group(1).strip()
    obj = json.loads(text)
    if not isinstance(obj, dict):
        raise ValueError("the advice is not a JSON object")
    return obj


def parse_advice(content, profile):
    """An Advice from the reply's message content, validated against the
    families the profile's modality takes and the parameters they have.
    ValueError when the content is not a JSON object."""
    obj = _content_json(content)
    advice = Advice(raw=content)
    allowed = plan.candidates(profile)
    try:
        from ..config.schema import MODEL_FAMILIES
        modality = "text" if profile.modality == "mixed" and profile.kind == "text" else \
            ("tabular" if profile.modality == "mixed" else profile.modality)
        allowed = tuple(f for f in plan.SPACES if f in MODEL_FAMILIES and modality in MODEL_FAMILIES[f]["modalities"])
    except Exception:  # noqa: BLE001  (the default candidates are the fallback)
        pass
    fams = obj.get("families")
    if fams is not None:
        if not isinstance(fams, list) or not all(isinstance(f, str) for f in fams):
            _warn(advice, f"'families' must be a list of names, got {fams!r}: ignored")
        else:
            good = [f for f in fams if f in allowed]
            for f in fams:
                if f not in allowed:
                    _warn(advice, f"unknown or unsuitable family {f!r} ignored (allowed: {', '.join(allowed)})")
            if good:
                advice.families = tuple(dict.fromkeys(good))
    dims = _dims(advice.families or allowed)
    space = obj.get("space") or {}
    if not isinstance(space, dict):
        _warn(advice, "'space' must be an object: ignored")
        space = {}
    for key, change in space.items():
        d = dims.get(key)
        if d is None:
            _warn(advice, f"unknown parameter {key!r} ignored")
            continue
        new = _changed_dim(d, change)
        if new is None:
            _warn(advice, f"change of {key!r} ({change!r}) is not valid for a {d.kind} parameter: ignored")
            continue
        advice.space[key] = new
    for k in obj:
        if k not in ("families", "space", "explanation"):
            _warn(advice, f"unknown key {k!r} ignored")
    expl = obj.get("explanation")
    if isinstance(expl, str):
        advice.explanation = expl.strip()[:4000]
    return advice


def _num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _changed_dim(d, change):
    if not isinstance(change, dict):
        return None
    if d.kind == "cat":
        ch = change.get("choices")
        if not isinstance(ch, list) or not ch:
            return None
        types = {type(c) for c in d.choices}
        if not all(type(c) in types for c in ch):
            return None
        ch = tuple(dict.fromkeys(ch))
        return dataclasses.replace(d, choices=ch, default=d.default if d.default in ch else ch[0])
    lo, hi = change.get("low", d.low), change.get("high", d.high)
    if not (_num(lo) and _num(hi)) or lo > hi:
        return None
    if d.kind == "int":
        if lo != int(lo) or hi != int(hi):
            return None
        lo, hi = int(lo), int(hi)
    if d.kind == "log" and lo <= 0:
        return None
    default = d.default if lo <= d.default <= hi else lo
    return dataclasses.replace(d, low=lo, high=hi, default=default)


def _leaderboard_summary(rows, limit=15):
    out = []
    for r in rows[:limit]:
        out.append({k: r.get(k) for k in ("trial", "family", "state", "value", "val_metric_name", "val_metric",
                                          "epochs", "params", "error")})
    return out


def ask(url, profile, leaderboard=(), model=None, timeout=30.0, families=None):
    """Posts the profile and the leaderboard to URL/chat/completions; returns an
    Advice, or None (with a warning) when the endpoint fails or the reply is
    malformed."""
    allowed = list(families or plan.candidates(profile))
    user = {"profile": profile.to_dict(), "leaderboard": _leaderboard_summary(list(leaderboard)),
            "allowed_families": allowed,
            "parameters": {k: _dim_dict(d) for k, d in _dims(allowed).items()}}
    body = {"model": model or "default", "temperature": 0,
            "messages": [{"role": "system", "content": SYSTEM_PROMPT},
                         {"role": "user", "content": json.dumps(user, default=str)}]}
    endpoint = url.rstrip("/") + "/chat/completions"
    req = urllib.request.Request(endpoint, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            reply = json.loads(resp.read().decode("utf-8"))
        content = reply["choices"][0]["message"]["content"]
        if not isinstance(content, str):
            raise ValueError("the message content is not text")
        return parse_advice(content, profile)
    except (urllib.error.URLError, TimeoutError, OSError) as e:
        warnings.warn(f"advisor: {endpoint} did not answer ({e}); going on without advice", stacklevel=2)
    except (ValueError, KeyError, IndexError, TypeError) as e:
        warnings.warn(f"advisor: malformed reply from {endpoint} ({type(e).__name__}: {e}); going on without "
                      f"advice", stacklevel=2)
    return None
