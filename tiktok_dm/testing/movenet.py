"""A stand-in for MoveNet.MultiPose for tests: a real TFLite file with the network's interface (an int32 RGB image of
any size in, [1, 6, 56] out) that always reports the same people, written with the TFLite schema that LiteRT ships
(no TensorFlow needed). Google's model cannot be fetched in tests; this one exercises the backend's loading,
resizing and decoding against LiteRT itself."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tiktok_dm.pose.movenet_backend import MAX_PEOPLE, OUTPUT_VALUES


@dataclass(frozen=True)
class FakePerson:
    """A person the stand-in reports: COCO-17 keypoints as (x, y) in [0, 1] of the picture, one score for each
    keypoint and for the person."""

    keypoints_xy: tuple[tuple[float, float], ...]
    keypoint_score: float = 0.9
    score: float = 0.9


def write_fixed_movenet_model(path: str | os.PathLike, people: list[FakePerson]) -> Path:
    """Write the stand-in to ``path``: CAST (int32 -> float) -> MEAN over height and width -> FULLY_CONNECTED with
    zero weights and the people as its bias -> RESHAPE to [1, 6, 56]. Returns the path."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    if len(people) > MAX_PEOPLE:
        raise ValueError(f"MoveNet.MultiPose reports at most {MAX_PEOPLE} people, got {len(people)}")
    rows = np.zeros((MAX_PEOPLE, OUTPUT_VALUES), dtype=np.float32)
    for row, person in zip(rows, people):
        if len(person.keypoints_xy) != 17:
            raise ValueError(f"a person has 17 keypoints, got {len(person.keypoints_xy)}")
        for joint, (x, y) in enumerate(person.keypoints_xy):
            row[3 * joint:3 * joint + 3] = (y, x, person.keypoint_score)
        row[-1] = person.score
    constants = {"weights": np.zeros((MAX_PEOPLE * OUTPUT_VALUES, 3), dtype=np.float32), "bias": rows.ravel(),
                 "axes": np.array([1, 2], dtype=np.int32), "shape": np.array([1, MAX_PEOPLE, OUTPUT_VALUES], np.int32)}

    buffers = [schema.BufferT()]  # buffer 0: the empty one every model starts with
    tensors = []

    def tensor(name: str, shape: list[int], kind: int, data: np.ndarray | None = None, signature=None) -> int:
        entry = schema.TensorT()
        entry.name, entry.shape, entry.type = name, shape, kind
        entry.shapeSignature = signature
        if data is not None:
            buffer = schema.BufferT()
            buffer.data = np.frombuffer(data.tobytes(), dtype=np.uint8)
            buffers.append(buffer)
            entry.buffer = len(buffers) - 1
        tensors.append(entry)
        return len(tensors) - 1

    float32, int32 = schema.TensorType.FLOAT32, schema.TensorType.INT32
    image = tensor("input", [1, 1, 1, 3], int32, signature=[1, -1, -1, 3])
    as_float = tensor("as_float", [1, 1, 1, 3], float32, signature=[1, -1, -1, 3])
    mean = tensor("mean", [1, 3], float32)
    flat = tensor("flat", [1, MAX_PEOPLE * OUTPUT_VALUES], float32)
    out = tensor("output", [1, MAX_PEOPLE, OUTPUT_VALUES], float32)
    weights = tensor("weights", list(constants["weights"].shape), float32, constants["weights"])
    bias = tensor("bias", list(constants["bias"].shape), float32, constants["bias"])
    axes = tensor("axes", [2], int32, constants["axes"])
    shape = tensor("shape", [3], int32, constants["shape"])

    codes, operators = [], []

    def operator(code: int, inputs: list[int], outputs: list[int], options_type: int, options) -> None:
        opcode = schema.OperatorCodeT()
        opcode.builtinCode = code
        opcode.deprecatedBuiltinCode = min(code, 127)
        codes.append(opcode)
        op = schema.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = len(codes) - 1, inputs, outputs
        op.builtinOptionsType, op.builtinOptions = options_type, options
        operators.append(op)

    cast = schema.CastOptionsT()
    cast.inDataType, cast.outDataType = int32, float32
    reducer = schema.ReducerOptionsT()
    reducer.keepDims = False
    reshape = schema.ReshapeOptionsT()
    reshape.newShape = [1, MAX_PEOPLE, OUTPUT_VALUES]
    operator(schema.BuiltinOperator.CAST, [image], [as_float], schema.BuiltinOptions.CastOptions, cast)
    operator(schema.BuiltinOperator.MEAN, [as_float, axes], [mean], schema.BuiltinOptions.ReducerOptions, reducer)
    operator(schema.BuiltinOperator.FULLY_CONNECTED, [mean, weights, bias], [flat],
             schema.BuiltinOptions.FullyConnectedOptions, schema.FullyConnectedOptionsT())
    operator(schema.BuiltinOperator.RESHAPE, [flat, shape], [out], schema.BuiltinOptions.ReshapeOptions, reshape)

    graph = schema.SubGraphT()
    graph.tensors, graph.inputs, graph.outputs, graph.operators = tensors, [image], [out], operators
    model = schema.ModelT()
    model.version, model.operatorCodes, model.subgraphs, model.buffers = 3, codes, [graph], buffers
    model.description = "tiktok-dm test stand-in for MoveNet.MultiPose"
    builder = flatbuffers.Builder(4096)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(bytes(builder.Output()))
    return target
