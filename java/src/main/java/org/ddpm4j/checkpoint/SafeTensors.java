package org.ddpm4j.checkpoint;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The safetensors format (as written by {@code safetensors.torch.save_file}): a
 * little-endian u64 header length, a JSON header mapping names to
 * {dtype, shape, data_offsets} (plus optional string {@code __metadata__}), then the
 * raw little-endian tensor bytes (https://github.com/huggingface/safetensors).
 * Reading is strict (see {@link #parse}); every refusal is a {@link SafeTensorsException}.
 */
public final class SafeTensors {
    /** The format's limit on the JSON header. */
    public static final long MAX_HEADER_BYTES = 100_000_000L;
    public static final String METADATA = "__metadata__";

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

    /** Bytes per element of the dtypes this reader knows (the byte-sized ones of the format), or -1. */
    static int elementSize(String dtype) {
        return switch (dtype) {
            case "F64", "I64", "U64" -> 8;
            case "F32", "I32", "U32" -> 4;
            case "F16", "BF16", "I16", "U16" -> 2;
            case "I8", "U8", "BOOL", "F8_E4M3", "F8_E5M2" -> 1;
            default -> -1;
        };
    }

    private static final String DTYPES = "F64, F32, F16, BF16, I64, I32, I16, I8, U64, U32, U16, U8, BOOL, F8_E4M3, F8_E5M2";
    private static final Set<String> TENSOR_FIELDS = Set.of("dtype", "shape", "data_offsets");

    public static Contents read(Path file) {
        byte[] all;
        try {
            long size = Files.size(file);
            if (size > Integer.MAX_VALUE - 8) {
                throw new SafeTensorsException(file + " is " + size + " bytes; ddpm4j reads safetensors files of up to 2 GB");
            }
            all = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new CheckpointException("safetensors file " + file + " does not exist");
        } catch (IOException e) {
            throw new CheckpointException("cannot read " + file + ": " + e.getMessage(), e);
        }
        return parse(file.toString(), all);
    }

    /** A tensor's header entry, checked on its own; its offsets are checked against the others afterwards. */
    private record Entry(String name, String dtype, long[] shape, long begin, long end) {}

    /**
     * Reads a safetensors file held in memory, checking it as the format's reference
     * implementation does: header length at most 100 MB and within the file, a UTF-8
     * JSON object starting with '{', no duplicate keys (stricter than the reference,
     * which silently keeps the last one), {@code __metadata__} a map of
     * strings, each tensor exactly {dtype, shape, data_offsets} with a known dtype, a
     * shape of non-negative integers and two integer offsets whose span is the shape's
     * size in bytes; the tensors, sorted by offset, cover the data after the header
     * exactly, with no gap, no overlap and nothing after the last one.
     *
     * @param source the file's name, for messages
     * @throws SafeTensorsException naming the source, the tensor or field, and what was expected
     */
    public static Contents parse(String source, byte[] all) {
        String bad = source + " is not a valid safetensors file: ";
        if (all.length < 8) throw new SafeTensorsException(bad + "it is " + all.length + " bytes, shorter than the 8-byte header length");
        long headerLen = ByteBuffer.wrap(all, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        if (headerLen < 0 || headerLen > MAX_HEADER_BYTES) {
            throw new SafeTensorsException(bad + "its header length " + Long.toUnsignedString(headerLen)
                    + " is over the format's limit of " + MAX_HEADER_BYTES + " bytes");
        }
        if (headerLen > all.length - 8L) {
            throw new SafeTensorsException(bad + "its header length " + headerLen + " is more than the " + (all.length - 8)
                    + " bytes that follow it (truncated?)");
        }
        if (headerLen == 0 || all[8] != '{') throw new SafeTensorsException(bad + "its header does not start with '{'");
        JsonObject header;
        try {
            header = StrictJson.parseObject(all, 8, (int) headerLen);
        } catch (StrictJson.Invalid e) {
            throw new SafeTensorsException(bad + "its header " + e.getMessage());
        }
        Map<String, String> meta = new LinkedHashMap<>();
        List<Entry> entries = new ArrayList<>();
        for (Map.Entry<String, JsonElement> en : header.entrySet()) {
            if (en.getKey().equals(METADATA)) {
                readMetadata(en.getValue(), meta, bad);
            } else {
                entries.add(entry(en.getKey(), en.getValue(), bad));
            }
        }
        int dataStart = 8 + (int) headerLen;
        long dataLen = all.length - (long) dataStart;
        checkCoverage(entries, dataLen, bad);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (Entry e : entries) {
            byte[] data = Arrays.copyOfRange(all, dataStart + (int) e.begin(), dataStart + (int) e.end());
            tensors.put(e.name(), new Tensor(e.name(), e.dtype(), e.shape(), data));
        }
        return new Contents(tensors, meta);
    }

    private static void readMetadata(JsonElement value, Map<String, String> into, String bad) {
        if (value.isJsonNull()) return;  // "optional": null is the same as absent
        if (!value.isJsonObject()) {
            throw new SafeTensorsException(bad + METADATA + " is " + StrictJson.describe(value) + ", expected an object of strings");
        }
        for (Map.Entry<String, JsonElement> m : value.getAsJsonObject().entrySet()) {
            JsonElement v = m.getValue();
            if (!v.isJsonPrimitive() || !v.getAsJsonPrimitive().isString()) {
                throw new SafeTensorsException(bad + METADATA + " key \"" + StrictJson.printable(m.getKey()) + "\" is "
                        + StrictJson.describe(v) + ", expected a string");
            }
            into.put(m.getKey(), v.getAsString());
        }
    }

    private static Entry entry(String name, JsonElement value, String bad) {
        String where = bad + "tensor \"" + StrictJson.printable(name) + "\"";
        if (!value.isJsonObject()) throw new SafeTensorsException(where + " is " + StrictJson.describe(value) + ", expected an object");
        JsonObject o = value.getAsJsonObject();
        for (String k : o.keySet()) {
            if (!TENSOR_FIELDS.contains(k)) {
                throw new SafeTensorsException(where + " has an unknown field \"" + StrictJson.printable(k)
                        + "\" (expected dtype, shape and data_offsets)");
            }
        }
        try {
            JsonElement d = o.get("dtype");
            if (d == null || !d.isJsonPrimitive() || !d.getAsJsonPrimitive().isString()) {
                throw new StrictJson.Invalid("dtype is " + StrictJson.describe(d) + ", expected a string");
            }
            String dtype = d.getAsString();
            int es = elementSize(dtype);
            if (es < 0) throw new StrictJson.Invalid("dtype \"" + StrictJson.printable(dtype) + "\" is not one of " + DTYPES);
            long[] shape = longs(o.get("shape"), "shape", -1);
            long[] off = longs(o.get("data_offsets"), "data_offsets", 2);
            if (off[1] < off[0]) throw new StrictJson.Invalid("data_offsets [" + off[0] + ", " + off[1] + "] end before they begin");
            long bytes = es;
            for (long dim : shape) {
                try {
                    bytes = Math.multiplyExact(bytes, dim);
                } catch (ArithmeticException e) {
                    throw new StrictJson.Invalid("shape " + Arrays.toString(shape) + " is too large");
                }
            }
            if (off[1] - off[0] != bytes) {
                throw new StrictJson.Invalid("data_offsets [" + off[0] + ", " + off[1] + "] span " + (off[1] - off[0])
                        + " bytes, but shape " + Arrays.toString(shape) + " of " + dtype + " takes " + bytes);
            }
            return new Entry(name, dtype, shape, off[0], off[1]);
        } catch (StrictJson.Invalid e) {
            throw new SafeTensorsException(where + ": " + e.getMessage());
        }
    }

    /** An array of non-negative integers (of exactly {@code count} of them when count >= 0). */
    private static long[] longs(JsonElement e, String field, int count) throws StrictJson.Invalid {
        String expected = count < 0 ? "an array of non-negative integers" : "an array of " + count + " non-negative integers";
        if (e == null || !e.isJsonArray()) throw new StrictJson.Invalid(field + " is " + StrictJson.describe(e) + ", expected " + expected);
        JsonArray a = e.getAsJsonArray();
        if (count >= 0 && a.size() != count) {
            throw new StrictJson.Invalid(field + " has " + a.size() + " elements, expected " + count);
        }
        long[] out = new long[a.size()];
        for (int i = 0; i < out.length; i++) out[i] = StrictJson.integer(a.get(i), 0, Long.MAX_VALUE, field + "[" + i + "]");
        return out;
    }

    /** Sorted by offset, the tensors must tile [0, dataLen) exactly. */
    private static void checkCoverage(List<Entry> entries, long dataLen, String bad) {
        List<Entry> sorted = new ArrayList<>(entries);
        sorted.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        long at = 0;
        Entry previous = null;
        for (Entry e : sorted) {
            String tensor = bad + "tensor \"" + StrictJson.printable(e.name()) + "\"";
            if (e.begin() != at) {
                String where = previous == null ? "the start of the data"
                        : "where tensor \"" + StrictJson.printable(previous.name()) + "\" ends";
                throw new SafeTensorsException(tensor + " has data_offsets [" + e.begin() + ", " + e.end()
                        + "], expected them to begin at " + at + " (" + where + "): "
                        + (e.begin() < at ? "the two overlap" : "there is a gap between them"));
            }
            if (e.end() > dataLen) {
                throw new SafeTensorsException(tensor + " ends at byte " + e.end() + " of the data, which has only "
                        + dataLen + " bytes (truncated?)");
            }
            at = e.end();
            previous = e;
        }
        if (at < dataLen) {
            throw new SafeTensorsException(bad + (dataLen - at) + " bytes follow the last tensor's data"
                    + (previous == null ? "" : " (\"" + StrictJson.printable(previous.name()) + "\", ending at " + at + ")")
                    + "; expected the file to end there");
        }
    }

    public static void write(Path file, List<Tensor> tensors, Map<String, String> metadata) {
        try {
            AtomicFiles.write(file, ch -> write(ch, tensors, metadata));
        } catch (IOException e) {
            throw new CheckpointException("cannot write " + file + ": " + e.getMessage(), e);
        }
    }

    /** Writes the tensors, in list order and contiguous, after a header padded with spaces to 8 bytes. */
    static void write(WritableByteChannel ch, List<Tensor> tensors, Map<String, String> metadata) throws IOException {
        JsonObject header = new JsonObject();
        if (metadata != null && !metadata.isEmpty()) {
            JsonObject m = new JsonObject();
            metadata.forEach(m::addProperty);
            header.add(METADATA, m);
        }
        Set<String> names = new HashSet<>();
        long offset = 0;
        for (Tensor t : tensors) {
            if (t.name().equals(METADATA) || !names.add(t.name())) {
                throw new IllegalArgumentException("tensor name " + t.name() + " is reserved or used twice");
            }
            if (elementSize(t.dtype()) < 0 || t.data().length != t.elements() * elementSize(t.dtype())) {
                throw new IllegalArgumentException("tensor " + t.name() + " holds " + t.data().length + " bytes, not "
                        + Arrays.toString(t.shape()) + " of " + t.dtype());
            }
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
        while (head.hasRemaining()) ch.write(head);
        for (Tensor t : tensors) {
            ByteBuffer b = ByteBuffer.wrap(t.data());
            while (b.hasRemaining()) ch.write(b);
        }
    }
}
