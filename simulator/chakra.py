"""Chakra execution traces of one model step, for ASTRA-sim (https://github.com/mlcommons/chakra).

One file per NPU (`PREFIX.<rank>.et`): a `GlobalMetadata` message, then one `Node` per kernel
execution in program order, each length-delimited (a varint byte count before the message),
as Chakra's own writer does. Ranks are tp × pp chips, stage-major (rank = stage · tp + t).
Per rank, the stage's ops run in order, each depending on the previous one (`data_deps`):
- compute ops → `COMP_NODE` with `num_ops` (FLOPs), `tensor_size` (bytes moved) and the
  predicted `duration_micros`;
- TP/EP collectives → `COMM_COLL_NODE` with `comm_type` (Chakra's CollectiveCommType) and
  `comm_size` (bytes each rank contributes);
- the pipeline hand-off between stages → `COMM_SEND_NODE` on the sender and `COMM_RECV_NODE`
  on the receiver with `comm_src`, `comm_dst`, `comm_size`, `comm_tag`.

The messages are built with the `protobuf` package (the `chakra` extra) from the field numbers
of Chakra's `schema/protobuf/et_def.proto` (package ChakraProtoMsg); only the fields written
here are declared, which any reader of the full schema accepts.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from infersim.foundation.errors import InputError
from infersim.mapper.schedule import Schedule
from infersim.workloads.ops import Collective, CollectiveShape

SCHEMA_VERSION = "0.0.4"
COMP_NODE, COMM_SEND_NODE, COMM_RECV_NODE, COMM_COLL_NODE = 4, 5, 6, 7
COMM_TYPE = {Collective.ALL_REDUCE: 0, Collective.ALL_GATHER: 2, Collective.ALL_TO_ALL: 6,
             Collective.REDUCE_SCATTER: 7}

_CLASSES: dict[str, Any] = {}


def _messages() -> dict[str, Any]:
    """GlobalMetadata, Node, AttributeProto classes (built once from a descriptor)."""
    if _CLASSES:
        return _CLASSES
    try:
        from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    except ImportError:
        raise InputError("Chakra export needs protobuf: pip install 'infersim[chakra]'") from None
    F = descriptor_pb2.FieldDescriptorProto
    fd = descriptor_pb2.FileDescriptorProto(name="infersim_et_def.proto",
                                            package="ChakraProtoMsg", syntax="proto3")

    def msg(name: str, fields: list[tuple[str, int, int, int, str]]) -> None:
        m = fd.message_type.add(name=name)
        for fname, num, typ, label, tname in fields:
            f = m.field.add(name=fname, number=num, type=typ, label=label)
            if tname:
                f.type_name = tname
        if name == "AttributeProto":
            m.oneof_decl.add(name="value")
            for f in m.field:
                if f.number >= 3:
                    f.oneof_index = 0

    opt, rep = F.LABEL_OPTIONAL, F.LABEL_REPEATED
    msg("BoolList", [("values", 1, F.TYPE_BOOL, rep, "")])
    msg("AttributeProto", [
        ("name", 1, F.TYPE_STRING, opt, ""), ("doc_string", 2, F.TYPE_STRING, opt, ""),
        ("double_val", 3, F.TYPE_DOUBLE, opt, ""), ("int64_val", 9, F.TYPE_INT64, opt, ""),
        ("uint64_val", 13, F.TYPE_UINT64, opt, ""), ("bool_val", 27, F.TYPE_BOOL, opt, ""),
        ("bool_list", 28, F.TYPE_MESSAGE, opt, ".ChakraProtoMsg.BoolList"),
        ("string_val", 29, F.TYPE_STRING, opt, "")])
    msg("GlobalMetadata", [("version", 1, F.TYPE_STRING, opt, ""),
                           ("attr", 2, F.TYPE_MESSAGE, rep, ".ChakraProtoMsg.AttributeProto")])
    msg("IOInfo", [("values", 1, F.TYPE_STRING, opt, ""), ("shapes", 2, F.TYPE_STRING, opt, ""),
                   ("types", 3, F.TYPE_STRING, opt, "")])
    msg("Node", [
        ("id", 1, F.TYPE_UINT64, opt, ""), ("name", 2, F.TYPE_STRING, opt, ""),
        ("type", 3, F.TYPE_INT32, opt, ""),  # the NodeType enum travels as a varint
        ("ctrl_deps", 4, F.TYPE_UINT64, rep, ""), ("data_deps", 5, F.TYPE_UINT64, rep, ""),
        ("start_time_micros", 6, F.TYPE_UINT64, opt, ""),
        ("duration_micros", 7, F.TYPE_UINT64, opt, ""),
        ("inputs", 8, F.TYPE_MESSAGE, opt, ".ChakraProtoMsg.IOInfo"),
        ("outputs", 9, F.TYPE_MESSAGE, opt, ".ChakraProtoMsg.IOInfo"),
        ("attr", 10, F.TYPE_MESSAGE, rep, ".ChakraProtoMsg.AttributeProto")])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    for name in ("GlobalMetadata", "Node", "AttributeProto", "BoolList"):
        _CLASSES[name] = message_factory.GetMessageClass(
            pool.FindMessageTypeByName(f"ChakraProtoMsg.{name}"))
    return _CLASSES


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _attr(M: dict[str, Any], name: str, value: Any) -> Any:
    a = M["AttributeProto"](name=name)
    if isinstance(value, bool):
        a.bool_val = value
    elif isinstance(value, int):
        a.int64_val = value
    elif isinstance(value, float):
        a.double_val = value
    else:
        a.string_val = str(value)
    return a


def rank_nodes(schedule: Schedule, stage: int, tp_rank: int, first_id: int = 1,
               after: int | None = None) -> Iterator[Any]:
    """The nodes of one NPU (stage, tp_rank) in program order, numbered from `first_id`, the
    first depending on node `after` (if any)."""
    M = _messages()
    par = schedule.trace.scenario.parallel
    tp, pp = par.tp, max(1, par.pp)
    rank = stage * tp + tp_rank
    prev = after
    nid = first_id - 1
    for mo in schedule.ops:
        if mo.stage != stage:
            continue
        op = mo.op
        sh = op.shape
        t_us = round(mo.cost.time_s * 1e6)
        for _ in range(op.count):
            nid += 1
            node = M["Node"](id=nid, name=op.name, duration_micros=t_us)
            attrs: list[tuple[str, Any]] = [("is_cpu_op", False)]
            if isinstance(sh, CollectiveShape) and sh.collective == Collective.SEND_RECV:
                if stage + 1 >= pp:
                    nid -= 1
                    continue
                node.type = COMM_SEND_NODE
                attrs += [("comm_src", rank), ("comm_dst", rank + tp),
                          ("comm_size", int(sh.bytes)), ("comm_tag", stage)]
            elif isinstance(sh, CollectiveShape):
                node.type = COMM_COLL_NODE
                attrs += [("comm_type", COMM_TYPE[sh.collective]),
                          ("comm_size", int(sh.bytes))]
            else:
                node.type = COMP_NODE
                attrs += [("num_ops", int(op.flops)), ("tensor_size", int(op.bytes.total)),
                          ("op_type", op.kind.value)]
            node.attr.extend(_attr(M, k, v) for k, v in attrs)
            if prev is not None:
                node.data_deps.append(prev)
            prev = nid
            yield node


def _recv(schedule: Schedule, stage: int, tp_rank: int, first_id: int) -> Any:
    """The receive of the previous stage's activation, the first node of a later stage."""
    M = _messages()
    tp = schedule.trace.scenario.parallel.tp
    rank = stage * tp + tp_rank
    sends = [mo.op.shape for mo in schedule.ops if isinstance(mo.op.shape, CollectiveShape)
             and mo.op.shape.collective == Collective.SEND_RECV]
    size = int(sends[0].bytes) if sends else 0
    node = M["Node"](id=first_id, name="pp_recv", type=COMM_RECV_NODE)
    node.attr.extend(_attr(M, k, v) for k, v in (
        ("is_cpu_op", False), ("comm_src", rank - tp), ("comm_dst", rank),
        ("comm_size", size), ("comm_tag", stage - 1)))
    return node


def encode_rank(schedule: Schedule, stage: int, tp_rank: int) -> bytes:
    """One NPU's `.et` file content."""
    M = _messages()
    out = bytearray()
    meta = M["GlobalMetadata"](version=SCHEMA_VERSION)
    meta.attr.append(_attr(M, "producer", "infersim"))
    for m in (meta, *_program(schedule, stage, tp_rank)):
        data = m.SerializeToString()
        out += _varint(len(data)) + data
    return bytes(out)


def _program(schedule: Schedule, stage: int, tp_rank: int) -> list[Any]:
    if stage == 0:
        return list(rank_nodes(schedule, stage, tp_rank))
    # a later stage first receives its input (node 1); its first op depends on it
    return [_recv(schedule, stage, tp_rank, 1), *rank_nodes(schedule, stage, tp_rank, 2, 1)]


def write_chakra(schedule: Schedule, prefix: str | Path) -> list[Path]:
    """Write `PREFIX.<rank>.et` for every NPU of the step; returns the paths (atomically)."""
    from infersim.foundation.io import atomic_write_bytes

    if schedule.infeasible is not None:
        raise InputError(f"no Chakra trace for a step that does not fit ({schedule.infeasible})")
    par = schedule.trace.scenario.parallel
    out = []
    for stage in range(max(1, par.pp)):
        for t in range(par.tp):
            path = Path(f"{prefix}.{stage * par.tp + t}.et")
            atomic_write_bytes(path, encode_rank(schedule, stage, t))
            out.append(path)
    return out


def read_chakra(path: str | Path) -> tuple[Any, list[Any]]:
    """(GlobalMetadata, [Node]) of one `.et` file: the reader the round-trip test uses."""
    M = _messages()
    data = Path(path).read_bytes()
    pos, msgs = 0, []
    while pos < len(data):
        n, shift = 0, 0
        while True:
            b = data[pos]
            pos += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        msgs.append(data[pos:pos + n])
        pos += n
    if not msgs:
        raise InputError(f"{path}: empty Chakra trace")
    meta = M["GlobalMetadata"].FromString(msgs[0])
    return meta, [M["Node"].FromString(m) for m in msgs[1:]]
