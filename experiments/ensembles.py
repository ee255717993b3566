"""Building ensembles of supervised type heads (the experiments' side; tommer loads and runs them).

A saved head with ``members`` > 1 (``types.json``) averages its members' class probabilities, and
members may read different ``extra_layers`` (``member_extra_layers``):
:class:`tommer.typed.type_head.TypeHead` loads and runs such a head. :func:`ensemble` builds one from
trained heads.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from tommer.errors import ConfigError
from tommer.typed.type_head import TypeHead


def ensemble(heads: Sequence[TypeHead]) -> TypeHead:
    """One head averaging the class probabilities of trained supervised heads (an ensemble given
    is read as its members). They must agree on everything but ``extra_layers``; the ensemble
    reads the union of their layers. Its label and candidate thresholds are the first head's until
    they are chosen again on held-out texts."""
    members = [m for h in heads for m in (h.members if h.config.architecture.members > 1 else [h])]
    if len(members) == 1:
        return members[0]
    operating = {"label_threshold": 0, "candidate_threshold": 0, "group_stride": 0}  # chosen again
    ignored = {"info": {}, **operating, "extra_layers": [], "members": 1, "member_extra_layers": []}
    shapes = {json.dumps({**m.config.to_dict(), **ignored}) for m in members}
    if len(shapes) > 1:
        raise ConfigError("the heads of an ensemble must have the same configuration (extra_layers aside)")
    per_member = [list(m.config.reading.extra_layers) for m in members]
    union = sorted({layer for layers in per_member for layer in layers})
    differ = any(layers != per_member[0] for layers in per_member)
    config = members[0].config.copy(
        members=len(members),
        extra_layers=union if differ else per_member[0],
        member_extra_layers=per_member if differ else [],
        info={},
    )
    head = TypeHead(config)
    for member, trained in zip(head.members, members):
        member.load_state_dict(trained.state_dict())
    return head.eval()
