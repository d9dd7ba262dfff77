package org.ddpm4j.checkpoint;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The safetensors format (as written by {@code safetensors.torch.save_file}): a
 * little-endian u64 header length, a JSON header mapping names to
 * {dtype, shape, data_offsets} (plus optional string {@code __metadata__}), then the
 * raw little-endian tensor bytes.
 */
public final class SafeTensors {
    private SafeTensors() {}

    /** One tensor: dtype as in the format ("F32", "I64", ...), little-endian bytes. */
    public record Tensor(String name, String dtype, long[] shape, byte[] data) {
        public long elements() {
            long n = 1;
            for (long d : shape) n *= d;
            return n;
        }

        public static Tensor f32(String name, long[] shape, float[] v, int offset, int count) {
            ByteBuffer b = ByteBuffer.allocate(4 * count).order(ByteOrder.LITTLE_ENDIAN);
            b.asFloatBuffer().put(v, offset, count);
            return new Tensor(name, "F32", shape, b.array());
        }

        public static Tensor i64Scalar(String name, long v) {
            ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            b.putLong(v);
            return new Tensor(name, "I64", new long[0], b.array());
        }

        /** The values as floats (F32, F64, F16 and BF16 are converted). */
        public float[] toFloats() {
            ByteBuffer b = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
            int n = (int) elements();
            float[] out = new float[n];
            switch (dtype) {
                case "F32" -> b.asFloatBuffer().get(out);
                case "F64" -> {
                    for (int i = 0; i < n; i++) out[i] = (float) b.getDouble(8 * i);
                }
                case "F16" -> {
                    for (int i = 0; i < n; i++) out[i] = halfToFloat(b.getShort(2 * i));
                }
                case "BF16" -> {
                    for (int i = 0; i < n; i++) out[i] = Float.intBitsToFloat((b.getShort(2 * i) & 0xffff) << 16);
                }
                default -> throw new CheckpointException("tensor " + name + " has dtype " + dtype + ", expected a float type");
            }
            return out;
        }

        /** The value of an integer scalar (or one-element tensor). */
        public long toLong() {
            if (elements() != 1) throw new CheckpointException("tensor " + name + " should hold one value, has " + elements());
            ByteBuffer b = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
            return switch (dtype) {
                case "I64", "U64" -> b.getLong(0);
                case "I32", "U32" -> b.getInt(0);
                case "F32" -> (long) b.getFloat(0);
                case "F64" -> (long) b.getDouble(0);
                default -> throw new CheckpointException("tensor " + name + " has dtype " + dtype + ", expected an integer");
            };
        }
    }

    /** IEEE 754 binary16 to float (Float.float16ToFloat arrived only in Java 20). */
    static float halfToFloat(short h) {
        int bits = h & 0xffff;
        int sign = (bits & 0x8000) << 16;
        int exp = (bits >>> 10) & 0x1f;
        int mant = bits & 0x3ff;
        if (exp == 0x1f) return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
        if (exp == 0) {
            float v = mant * 0x1p-24f;
            return sign != 0 ? -v : v;
        }
        return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
    }

    /** The tensors of a file (in header order) and its metadata. */
    public record Contents(Map<String, Tensor> tensors, Map<String, String> metadata) {}

    private static int elementSize(String dtype) {
        return switch (dtype) {
            case "F64", "I64", "U64" -> 8;
            case "F32", "I32", "U32" -> 4;
            case "F16", "BF16", "I16", "U16" -> 2;
            case "I8", "U8", "BOOL", "F8_E4M3", "F8_E5M2" -> 1;
            default -> -1;
        };
    }

    public static Contents read(Path file) {
        byte[] all;
        try {
            all = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new CheckpointException("safetensors file " + file + " does not exist");
        } catch (IOException e) {
            throw new CheckpointException("cannot read " + file + ": " + e.getMessage(), e);
        }
        String bad = file + " is not a valid safetensors file: ";
        if (all.length < 8) throw new CheckpointException(bad + "it is only " + all.length + " bytes");
        long headerLen = ByteBuffer.wrap(all, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        if (headerLen < 2 || headerLen > all.length - 8) throw new CheckpointException(bad + "its header length " + headerLen + " does not fit the file");
        JsonObject header;
        try {
            JsonElement e = JsonParser.parseString(new String(all, 8, (int) headerLen, StandardCharsets.UTF_8));
            header = e.getAsJsonObject();
        } catch (JsonParseException | IllegalStateException e) {
            throw new CheckpointException(bad + "its header is not a JSON object");
        }
        int dataStart = 8 + (int) headerLen;
        long dataLen = all.length - (long) dataStart;
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        Map<String, String> meta = new LinkedHashMap<>();
        for (Map.Entry<String, JsonElement> en : header.entrySet()) {
            String name = en.getKey();
            try {
                JsonObject o = en.getValue().getAsJsonObject();
                if (name.equals("__metadata__")) {
                    for (Map.Entry<String, JsonElement> m : o.entrySet()) meta.put(m.getKey(), m.getValue().getAsString());
                    continue;
                }
                String dtype = o.get("dtype").getAsString();
                JsonArray sh = o.getAsJsonArray("shape");
                long[] shape = new long[sh.size()];
                long n = 1;
                for (int i = 0; i < shape.length; i++) {
                    shape[i] = sh.get(i).getAsLong();
                    if (shape[i] < 0) throw new IllegalStateException("negative dimension");
                    n *= shape[i];
                }
                JsonArray off = o.getAsJsonArray("data_offsets");
                long begin = off.get(0).getAsLong(), end = off.get(1).getAsLong();
                int es = elementSize(dtype);
                if (es < 0) throw new CheckpointException(bad + "tensor " + name + " has unknown dtype " + dtype);
                if (begin < 0 || end < begin || end > dataLen) {
                    throw new CheckpointException(bad + "tensor " + name + " lies outside the file (truncated?)");
                }
                if (end - begin != n * es) {
                    throw new CheckpointException(bad + "tensor " + name + " has " + (end - begin) + " bytes for " + n + " x " + dtype);
                }
                byte[] data = new byte[(int) (end - begin)];
                System.arraycopy(all, dataStart + (int) begin, data, 0, data.length);
                tensors.put(name, new Tensor(name, dtype, shape, data));
            } catch (IllegalStateException | NullPointerException | UnsupportedOperationException | IndexOutOfBoundsException e) {
                throw new CheckpointException(bad + "the header entry of " + name + " is malformed");
            }
        }
        return new Contents(tensors, meta);
    }

    public static void write(Path file, List<Tensor> tensors, Map<String, String> metadata) {
        JsonObject header = new JsonObject();
        if (metadata != null && !metadata.isEmpty()) {
            JsonObject m = new JsonObject();
            metadata.forEach(m::addProperty);
            header.add("__metadata__", m);
        }
        long offset = 0;
        for (Tensor t : tensors) {
            JsonObject o = new JsonObject();
            o.addProperty("dtype", t.dtype());
            JsonArray sh = new JsonArray();
            for (long d : t.shape()) sh.add(d);
            o.add("shape", sh);
            JsonArray off = new JsonArray();
            off.add(offset);
            off.add(offset + t.data().length);
            o.add("data_offsets", off);
            header.add(t.name(), o);
            offset += t.data().length;
        }
        byte[] h = header.toString().getBytes(StandardCharsets.UTF_8);
        int padded = (h.length + 7) / 8 * 8;  // pad with spaces to 8 bytes, as the reference writer
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(h);
        while (head.hasRemaining()) head.put((byte) ' ');
        head.flip();
        try {
            AtomicFiles.write(file, ch -> {
                while (head.hasRemaining()) ch.write(head);
                for (Tensor t : tensors) {
                    ByteBuffer b = ByteBuffer.wrap(t.data());
                    while (b.hasRemaining()) ch.write(b);
                }
            });
        } catch (IOException e) {
            throw new CheckpointException("cannot write " + file + ": " + e.getMessage(), e);
        }
    }
}
