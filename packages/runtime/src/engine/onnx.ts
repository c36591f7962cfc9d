/**
 * ONNX models built at run time (issue 25; docs/native-design.md): a small typed builder for graphs of
 * standard operators with float32 / int64 initializers, written as an ONNX ModelProto by protobufjs. The
 * schema below declares only the messages and fields digitbench writes, with the ONNX IR's field numbers
 * (onnx/onnx.proto); protobufjs does the wire format.
 */
import protobuf from 'protobufjs';

/** ONNX TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, INT32: 6, INT64: 7, BOOL: 9, DOUBLE: 11 } as const;
type DataTypeName = keyof typeof DataType;

const root = protobuf.Root.fromJSON({
  nested: {
    onnx: {
      nested: {
        ModelProto: {
          fields: {
            irVersion: { type: 'int64', id: 1 },
            producerName: { type: 'string', id: 2 },
            producerVersion: { type: 'string', id: 3 },
            graph: { type: 'GraphProto', id: 7 },
            opsetImport: { rule: 'repeated', type: 'OperatorSetIdProto', id: 8 },
          },
        },
        OperatorSetIdProto: { fields: { domain: { type: 'string', id: 1 }, version: { type: 'int64', id: 2 } } },
        GraphProto: {
          fields: {
            node: { rule: 'repeated', type: 'NodeProto', id: 1 },
            name: { type: 'string', id: 2 },
            initializer: { rule: 'repeated', type: 'TensorProto', id: 5 },
            input: { rule: 'repeated', type: 'ValueInfoProto', id: 11 },
            output: { rule: 'repeated', type: 'ValueInfoProto', id: 12 },
          },
        },
        NodeProto: {
          fields: {
            input: { rule: 'repeated', type: 'string', id: 1 },
            output: { rule: 'repeated', type: 'string', id: 2 },
            name: { type: 'string', id: 3 },
            opType: { type: 'string', id: 4 },
            attribute: { rule: 'repeated', type: 'AttributeProto', id: 5 },
            domain: { type: 'string', id: 7 },
          },
        },
        AttributeProto: {
          fields: {
            name: { type: 'string', id: 1 },
            f: { type: 'float', id: 2 },
            i: { type: 'int64', id: 3 },
            s: { type: 'bytes', id: 4 },
            floats: { rule: 'repeated', type: 'float', id: 7 },
            ints: { rule: 'repeated', type: 'int64', id: 8 },
            strings: { rule: 'repeated', type: 'bytes', id: 9 },
            g: { type: 'GraphProto', id: 6 },
            type: { type: 'int32', id: 20 },
          },
        },
        TensorProto: {
          fields: {
            dims: { rule: 'repeated', type: 'int64', id: 1 },
            dataType: { type: 'int32', id: 2 },
            name: { type: 'string', id: 8 },
            rawData: { type: 'bytes', id: 9 },
          },
        },
        ValueInfoProto: { fields: { name: { type: 'string', id: 1 }, type: { type: 'TypeProto', id: 2 } } },
        TypeProto: { fields: { tensorType: { type: 'TensorTypeProto', id: 1 } } },
        TensorTypeProto: { fields: { elemType: { type: 'int32', id: 1 }, shape: { type: 'TensorShapeProto', id: 2 } } },
        TensorShapeProto: { fields: { dim: { rule: 'repeated', type: 'Dimension', id: 1 } } },
        Dimension: { fields: { dimValue: { type: 'int64', id: 1 }, dimParam: { type: 'string', id: 2 } } },
      },
    },
  },
});
const ModelProto = root.lookupType('onnx.ModelProto');

/** AttributeProto.AttributeType values. */
const ATTR = { FLOAT: 1, INT: 2, STRING: 3, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8 } as const;
/** An attribute value; `{ graph }` is a subgraph (a Scan's or Loop's body), which may use the outer graph's values. */
export type Attribute = number | string | readonly number[] | { float: number } | { floats: readonly number[] } | { strings: readonly string[] } | { graph: GraphBuilder };

/** A dimension: a size, or a name for one given at run time (e.g. "N", the rows). */
export type Dim = number | string;

/**
 * A graph under construction: `input`, `initializer`, `node` and `output` in any order, then `encode()`.
 * Node outputs are named by the caller; `node` returns its first output's name.
 */
export class GraphBuilder {
  private readonly nodes: object[] = [];
  private readonly initializers: object[] = [];
  private readonly inputs: object[] = [];
  private readonly outputs: object[] = [];

  constructor(private readonly name: string) {}

  input(name: string, type: DataTypeName, dims: readonly Dim[]): string {
    this.inputs.push(valueInfo(name, type, dims));
    return name;
  }

  output(name: string, type: DataTypeName, dims: readonly Dim[]): string {
    this.outputs.push(valueInfo(name, type, dims));
    return name;
  }

  /** A constant tensor: float32 or float64 data, or int64 values. */
  initializer(name: string, data: Float32Array | Float64Array | BigInt64Array, dims: readonly number[]): string {
    const count = dims.reduce((a, b) => a * b, 1);
    if (data.length !== count) throw new Error(`onnx: initializer "${name}" has ${data.length} values for dims [${dims.join(', ')}].`);
    const dataType = data instanceof Float32Array ? DataType.FLOAT : data instanceof Float64Array ? DataType.DOUBLE : DataType.INT64;
    this.initializers.push({ name, dims, dataType, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
    return name;
  }

  /** A node of the default domain, or of `domain` (e.g. "ai.onnx.ml", which encode's `opsets` must then import). */
  node(opType: string, inputs: readonly string[], outputs: readonly string[], attributes: Record<string, Attribute> = {}, domain?: string): string {
    this.nodes.push({ opType, input: inputs, output: outputs, name: `${opType}_${this.nodes.length}`, attribute: Object.entries(attributes).map(([k, v]) => attribute(k, v)), ...(domain ? { domain } : {}) });
    return outputs[0]!;
  }

  /** The GraphProto as protobufjs takes it (for `encode`, and for a subgraph attribute). */
  proto(): object {
    return { name: this.name, node: this.nodes, initializer: this.initializers, input: this.inputs, output: this.outputs };
  }

  /** The ModelProto's bytes (IR version 8, opset `opset` of the default domain, and `opsets` of others, e.g. { 'ai.onnx.ml': 3 }). */
  encode(opset = 17, opsets: Record<string, number> = {}): Uint8Array {
    const model = {
      irVersion: 8,
      producerName: 'digitbench',
      opsetImport: [{ domain: '', version: opset }, ...Object.entries(opsets).map(([domain, version]) => ({ domain, version }))],
      graph: this.proto(),
    };
    const problem = ModelProto.verify(model);
    if (problem) throw new Error(`onnx: the model "${this.name}" is not valid (${problem}); this is a bug in the graph builder.`);
    return ModelProto.encode(ModelProto.fromObject(model)).finish();
  }
}

function valueInfo(name: string, type: DataTypeName, dims: readonly Dim[]) {
  return { name, type: { tensorType: { elemType: DataType[type], shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } } };
}

function attribute(name: string, v: Attribute) {
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new Error(`onnx: attribute "${name}" = ${v} is not an integer; give { float: ${v} } for a float.`);
    return { name, type: ATTR.INT, i: v };
  }
  if (typeof v === 'string') return { name, type: ATTR.STRING, s: new TextEncoder().encode(v) };
  if ('float' in v) return { name, type: ATTR.FLOAT, f: v.float };
  if ('floats' in v) return { name, type: ATTR.FLOATS, floats: v.floats };
  if ('strings' in v) return { name, type: ATTR.STRINGS, strings: v.strings.map((s) => new TextEncoder().encode(s)) };
  if ('graph' in v) return { name, type: ATTR.GRAPH, g: v.graph.proto() };
  return { name, type: ATTR.INTS, ints: v };
}
