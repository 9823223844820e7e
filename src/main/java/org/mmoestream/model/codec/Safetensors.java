package org.mmoestream.model.codec;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The safetensors layout (huggingface/safetensors): an 8-byte little-endian header length, a JSON
 * header mapping each tensor name to its dtype, shape and byte range (and {@code __metadata__} to
 * string pairs), padded with spaces to 8 bytes, then the raw little-endian tensor bytes.
 */
public final class Safetensors {
    private static final ObjectMapper JSON = new ObjectMapper();

    private Safetensors() {}

    /** A tensor: float32 ({@code F32}) or int64 ({@code I64}) values in row-major order. */
    public record Tensor(String dtype, long[] shape, float[] f32, long[] i64) {
        public static Tensor f32(long[] shape, float[] values) {
            return new Tensor("F32", shape, values, null);
        }

        public static Tensor i64(long[] shape, long[] values) {
            return new Tensor("I64", shape, null, values);
        }

        int bytes() {
            return f32 != null ? f32.length * 4 : i64.length * 8;
        }

        long elements() {
            return Arrays.stream(shape).reduce(1, (a, b) -> a * b);
        }
    }

    /** Tensors (in order) with metadata. */
    public record Content(Map<String, String> metadata, Map<String, Tensor> tensors) {}

    public static byte[] write(Content c) {
        Map<String, Shape> shapes = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : c.tensors().entrySet()) {
            Tensor t = e.getValue();
            if (t.elements() != (t.f32 != null ? t.f32.length : t.i64.length)) {
                throw new IllegalArgumentException(
                        "tensor " + e.getKey() + " has a shape that does not match its values");
            }
            shapes.put(e.getKey(), new Shape(t.dtype(), t.shape()));
        }
        Layout out = new Layout(c.metadata(), shapes);
        for (Map.Entry<String, Tensor> e : c.tensors().entrySet()) {
            Tensor t = e.getValue();
            if (t.f32 != null) {
                out.f32(e.getKey()).put(t.f32);
            } else {
                out.i64(e.getKey()).put(t.i64);
            }
        }
        return out.bytes();
    }

    /** The dtype ({@code F32} or {@code I64}) and shape of a tensor to lay out. */
    public record Shape(String dtype, long[] shape) {
        public static Shape f32(long... shape) {
            return new Shape("F32", shape);
        }

        public static Shape i64(long... shape) {
            return new Shape("I64", shape);
        }

        long bytes() {
            return Arrays.stream(shape).reduce(1, (a, b) -> a * b) * (dtype.equals("F32") ? 4 : 8);
        }
    }

    /**
     * Safetensors bytes laid out for tensors of given shapes, in order, whose values are written in
     * place through {@link #f32} and {@link #i64} (no staging arrays for large tensors).
     */
    public static final class Layout {
        private final byte[] bytes;
        private final Map<String, long[]> ranges = new LinkedHashMap<>();

        public Layout(Map<String, String> metadata, Map<String, Shape> tensors) {
            ObjectNode header = JSON.createObjectNode();
            ObjectNode meta = header.putObject("__metadata__");
            metadata.forEach(meta::put);
            long offset = 0;
            for (Map.Entry<String, Shape> e : tensors.entrySet()) {
                Shape t = e.getValue();
                ObjectNode n = header.putObject(e.getKey());
                n.put("dtype", t.dtype());
                var shape = n.putArray("shape");
                for (long d : t.shape()) {
                    shape.add(d);
                }
                n.putArray("data_offsets").add(offset).add(offset + t.bytes());
                ranges.put(e.getKey(), new long[] {offset, t.bytes()});
                offset += t.bytes();
            }
            byte[] h = header.toString().getBytes(StandardCharsets.UTF_8);
            int padded = (h.length + 7) / 8 * 8;
            bytes = new byte[Math.toIntExact(8 + padded + offset)];
            ByteBuffer out = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
            out.putLong(padded);
            out.put(h);
            for (int i = h.length; i < padded; i++) {
                out.put((byte) ' ');
            }
            for (long[] r : ranges.values()) {
                r[0] += 8 + padded;
            }
        }

        private ByteBuffer view(String name) {
            long[] r = ranges.get(name);
            return ByteBuffer.wrap(bytes, (int) r[0], (int) r[1]).slice().order(ByteOrder.LITTLE_ENDIAN);
        }

        /** The values of float32 tensor {@code name}, to fill. */
        public FloatBuffer f32(String name) {
            return view(name).asFloatBuffer();
        }

        /** The values of int64 tensor {@code name}, to fill. */
        public LongBuffer i64(String name) {
            return view(name).asLongBuffer();
        }

        public byte[] bytes() {
            return bytes;
        }
    }

    /** The values of float32 tensor {@code e} of {@code bytes}, read in place. */
    public static FloatBuffer f32View(byte[] bytes, Entry e) {
        return view(bytes, e, "F32", "float32").asFloatBuffer();
    }

    /** The values of int64 tensor {@code e} of {@code bytes}, read in place. */
    public static LongBuffer i64View(byte[] bytes, Entry e) {
        return view(bytes, e, "I64", "int64").asLongBuffer();
    }

    /** The bytes of tensor {@code e}, which must be of {@code dtype} ({@code type} in messages). */
    private static ByteBuffer view(byte[] bytes, Entry e, String dtype, String type) {
        if (!e.dtype().equals(dtype)) {
            throw new IllegalArgumentException("a tensor of dtype " + e.dtype() + " where " + type + " is expected");
        }
        return ByteBuffer.wrap(bytes, (int) e.begin(), (int) (e.end() - e.begin()))
                .slice()
                .order(ByteOrder.LITTLE_ENDIAN);
    }

    /** Where one tensor lies in the file, without its values. */
    public record Entry(String dtype, long[] shape, long begin, long end) {
        /** Number of elements the shape declares. */
        public long elements() {
            return Arrays.stream(shape).reduce(1, (a, b) -> a * b);
        }
    }

    /** The metadata and tensor entries of safetensors bytes; the values are not decoded. */
    public record Header(Map<String, String> metadata, Map<String, Entry> entries) {}

    /** Parses the header only; rejects a malformed layout as {@link #read} does. */
    public static Header readHeader(byte[] bytes) {
        if (bytes.length < 8) {
            throw new IllegalArgumentException("not a safetensors file: " + bytes.length + " bytes");
        }
        ByteBuffer in = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        long n = in.getLong();
        if (n < 2 || n > bytes.length - 8) {
            throw new IllegalArgumentException("not a safetensors file: header length " + n);
        }
        JsonNode header;
        try {
            header = JSON.readTree(new String(bytes, 8, (int) n, StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new IllegalArgumentException("safetensors header is not JSON");
        }
        if (header == null || !header.isObject()) {
            throw new IllegalArgumentException("safetensors header is not a JSON object");
        }
        int base = 8 + (int) n;
        Map<String, String> meta = new LinkedHashMap<>();
        Map<String, Entry> entries = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : header.properties()) {
            if (e.getKey().equals("__metadata__")) {
                e.getValue()
                        .properties()
                        .forEach(m -> meta.put(m.getKey(), m.getValue().asText()));
                continue;
            }
            JsonNode t = e.getValue();
            JsonNode shapeNode = t.get("shape");
            JsonNode offsets = t.get("data_offsets");
            if (shapeNode == null
                    || !shapeNode.isArray()
                    || offsets == null
                    || offsets.size() != 2
                    || t.get("dtype") == null) {
                throw new IllegalArgumentException("tensor " + e.getKey() + " lacks dtype, shape or data_offsets");
            }
            long[] shape = new long[shapeNode.size()];
            for (int i = 0; i < shape.length; i++) {
                shape[i] = shapeNode.get(i).asLong();
            }
            long begin = offsets.get(0).asLong();
            long end = offsets.get(1).asLong();
            if (begin < 0 || end < begin || base + end > bytes.length) {
                throw new IllegalArgumentException("tensor " + e.getKey() + " lies outside the file");
            }
            String dtype = t.get("dtype").asText();
            int width = switch (dtype) {
                case "F32" -> 4;
                case "I64" -> 8;
                default ->
                    throw new IllegalArgumentException("tensor " + e.getKey() + " has unsupported dtype " + dtype);
            };
            Entry entry = new Entry(dtype, shape, base + begin, base + end);
            if (entry.elements() * width != end - begin) {
                throw new IllegalArgumentException("tensor " + e.getKey() + " has " + (end - begin)
                        + " bytes for shape " + Arrays.toString(shape));
            }
            entries.put(e.getKey(), entry);
        }
        return new Header(meta, entries);
    }

    /** Parses safetensors bytes; rejects a malformed layout with a message saying what is wrong. */
    public static Content read(byte[] bytes) {
        Header h = readHeader(bytes);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (Map.Entry<String, Entry> e : h.entries().entrySet()) {
            Entry t = e.getValue();
            ByteBuffer data = ByteBuffer.wrap(bytes, (int) t.begin(), (int) (t.end() - t.begin()))
                    .slice()
                    .order(ByteOrder.LITTLE_ENDIAN);
            if (t.dtype().equals("F32")) {
                float[] v = new float[(int) ((t.end() - t.begin()) / 4)];
                data.asFloatBuffer().get(v);
                tensors.put(e.getKey(), Tensor.f32(t.shape(), v));
            } else {
                long[] v = new long[(int) ((t.end() - t.begin()) / 8)];
                data.asLongBuffer().get(v);
                tensors.put(e.getKey(), Tensor.i64(t.shape(), v));
            }
        }
        return new Content(h.metadata(), tensors);
    }
}
