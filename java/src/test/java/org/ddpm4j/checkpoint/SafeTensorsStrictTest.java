package org.ddpm4j.checkpoint;

import static org.junit.jupiter.api.Assertions.*;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.ddpm4j.checkpoint.SafeTensors.Tensor;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The safetensors reader refuses what the format forbids: each mutant is built from a
 * valid file written by {@link SafeTensors#write} and must be refused with a message
 * naming the file and the tensor (or field); the rows of issue 11 first.
 */
class SafeTensorsStrictTest {
    @TempDir
    Path dir;
    private Path valid;
    private String header;
    private byte[] data;

    /** Four tensors of three dtypes (one empty) and metadata; in offset order w, n, h, e. */
    static List<Tensor> tensors() {
        ByteBuffer half = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        half.putShort((short) 0x3c00).putShort((short) 0xc000).putShort((short) 0x3800).putShort((short) 0x7bff);
        return List.of(Tensor.f32("w", new long[] {2, 3}, new float[] {1, 2, 3, 4, 5, 6}, 0, 6),
                Tensor.i64Scalar("n", 42), new Tensor("h", "F16", new long[] {4}, half.array()),
                Tensor.f32("e", new long[] {0, 5}, new float[0], 0, 0));
    }

    static final Map<String, String> META = Map.of("format", "pt");

    @BeforeEach
    void writeValid() throws IOException {
        valid = dir.resolve("valid.safetensors");
        SafeTensors.write(valid, tensors(), META);
        byte[] all = Files.readAllBytes(valid);
        int n = (int) ByteBuffer.wrap(all, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        header = new String(all, 8, n, StandardCharsets.UTF_8).strip();
        data = Arrays.copyOfRange(all, 8 + n, all.length);
    }

    private JsonObject headerJson() {
        return JsonParser.parseString(header).getAsJsonObject();
    }

    /** A file of the given header text and data bytes. */
    private Path file(String name, String headerText, byte[] bytes) throws IOException {
        byte[] h = headerText.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + bytes.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h).put(bytes);
        return Files.write(dir.resolve(name + ".safetensors"), b.array());
    }

    /** Reading {@code f} fails with a CheckpointException whose message names the file and contains every {@code parts}. */
    private static String refused(Path f, String... parts) {
        CheckpointException e = assertThrows(CheckpointException.class, () -> SafeTensors.read(f), f.getFileName().toString());
        String m = e.getMessage();
        assertTrue(m.contains(f.toString()), "names the file: " + m);
        for (String p : parts) assertTrue(m.contains(p), "expected '" + p + "' in: " + m);
        return m;
    }

    private static JsonArray ints(long... v) {
        JsonArray a = new JsonArray();
        for (long x : v) a.add(x);
        return a;
    }

    @Test
    void theValidFileReadsBackExactly() {
        SafeTensors.Contents c = SafeTensors.read(valid);
        assertEquals(List.of("w", "n", "h", "e"), List.copyOf(c.tensors().keySet()));
        assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6}, c.tensors().get("w").toFloats());
        assertArrayEquals(new long[] {2, 3}, c.tensors().get("w").shape());
        assertEquals(42, c.tensors().get("n").toLong());
        assertArrayEquals(new float[] {1, -2, 0.5f, 65504}, c.tensors().get("h").toFloats());
        assertArrayEquals(new long[] {0, 5}, c.tensors().get("e").shape());
        assertEquals(META, c.metadata());
    }

    @Test
    void offsetsShiftedByEightBytesAreRefusedNamingTheTensor() throws IOException {
        // Issue 11: 10 of 10 such mutants were imported with weights shifted by two floats.
        for (String name : List.of("w", "n", "h")) {  // (an empty tensor may sit at any offset between others)
            for (int shift : new int[] {8, -8}) {
                JsonObject h = headerJson();
                JsonArray off = h.getAsJsonObject(name).getAsJsonArray("data_offsets");
                long begin = off.get(0).getAsLong() + shift, end = off.get(1).getAsLong() + shift;
                if (begin < 0) continue;
                h.getAsJsonObject(name).add("data_offsets", ints(begin, end));
                refused(file("shift-" + name + shift, h.toString(), data), "tensor \"");
            }
        }
        // Every tensor shifted by 8, with 8 more bytes of data so that everything still lies inside the file.
        JsonObject h = headerJson();
        for (String name : List.of("w", "n", "h", "e")) {
            JsonArray off = h.getAsJsonObject(name).getAsJsonArray("data_offsets");
            h.getAsJsonObject(name).add("data_offsets", ints(off.get(0).getAsLong() + 8, off.get(1).getAsLong() + 8));
        }
        refused(file("shift-all", h.toString(), Arrays.copyOf(data, data.length + 8)), "tensor \"w\"",
                "expected them to begin at 0 (the start of the data)", "gap");
    }

    @Test
    void overlappingTensorsAreRefused() throws IOException {
        JsonObject h = headerJson();
        h.getAsJsonObject("h").add("data_offsets", ints(24, 32));  // the bytes of n
        refused(file("overlap", h.toString(), data), "overlap");
    }

    @Test
    void shapesWrittenAsStringsAreRefused() throws IOException {
        JsonObject h = headerJson();
        JsonArray s = new JsonArray();
        s.add("2");
        s.add("3");
        h.getAsJsonObject("w").add("shape", s);
        refused(file("shape-strings", h.toString(), data), "tensor \"w\"", "shape[0] is the string \"2\"");
        h.getAsJsonObject("w").addProperty("shape", "[2, 3]");
        refused(file("shape-string", h.toString(), data), "tensor \"w\"", "shape is the string", "expected an array");
    }

    @Test
    void fractionalShapesAreRefused() throws IOException {
        // 16.9 was read as 16; 2.0 is not an integer in JSON either, as the reference reader holds.
        for (String dims : new String[] {"[2.9, 3]", "[2.0, 3]", "[2e0, 3]", "[2, -3]", "[2, 3, true]", "[2, null]"}) {
            String text = headerJson().toString().replace("\"shape\":[2,3]", "\"shape\":" + dims);
            refused(file("shape", text, data), "tensor \"w\"", "expected a non-negative integer");
        }
    }

    @Test
    void duplicateKeysAreRefusedAtEveryLevel() throws IOException {
        String text = header;
        String w = text.substring(text.indexOf("\"w\":"), text.indexOf(",\"n\":"));
        String twice = text.replace(",\"n\":", "," + w + ",\"n\":");
        refused(file("dup-tensor", twice, data), "the key \"w\" twice");
        refused(file("dup-field", text.replace("\"dtype\":\"F32\"", "\"dtype\":\"F32\",\"dtype\":\"I32\""), data),
                "the key \"dtype\" twice", "$.w");
        refused(file("dup-meta", text.replace("{\"format\":\"pt\"}", "{\"format\":\"pt\",\"format\":\"np\"}"), data),
                "the key \"format\" twice");
        refused(file("dup-metadata", text.replace("\"__metadata__\":{\"format\":\"pt\"},",
                "\"__metadata__\":{\"format\":\"pt\"},\"__metadata__\":{},"), data), "the key \"__metadata__\" twice");
    }

    @Test
    void trailingBytesAfterTheDataAreRefused() throws IOException {
        for (int extra : new int[] {1, 7, 8, 1000}) {
            refused(file("trailing" + extra, header, Arrays.copyOf(data, data.length + extra)),
                    extra + " bytes follow the last tensor's data", "\"e\", ending at 40");
        }
    }

    @Test
    void offsetsMustBeExactlyTwoIntegers() throws IOException {
        for (JsonArray off : List.of(ints(0, 24, 32), ints(0), new JsonArray())) {
            JsonObject h = headerJson();
            h.getAsJsonObject("w").add("data_offsets", off);
            refused(file("offsets" + off.size(), h.toString(), data), "tensor \"w\"", "data_offsets has " + off.size()
                    + " elements, expected 2");
        }
        JsonObject h = headerJson();
        h.getAsJsonObject("w").add("data_offsets", ints(24, 0));
        refused(file("offsets-backwards", h.toString(), data), "tensor \"w\"", "end before they begin");
    }

    @Test
    void aFlippedBitInAHeaderDigitIsReportedWithTheFileName() throws IOException {
        // Issue 11: 'ddpm import: error: For input string: "?92600"' (no file, no context).
        byte[] all = Files.readAllBytes(valid);
        int at = indexOf(all, "\"data_offsets\":[0,24]") + "\"data_offsets\":[0,".length();
        all[at] ^= (byte) 0x80;  // '2' becomes a byte that is not UTF-8
        Path f = Files.write(dir.resolve("flipped.safetensors"), all);
        refused(f, "header is not valid UTF-8");
    }

    /** Every single-bit flip in the header is refused with a SafeTensorsException naming the file, or reads as a valid file. */
    @Test
    void everySingleBitFlipOfTheHeaderIsRefusedCleanlyOrValid() throws IOException {
        byte[] all = Files.readAllBytes(valid);
        int n = (int) ByteBuffer.wrap(all, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        int refusedCount = 0, accepted = 0;
        for (int i = 0; i < 8 + n; i++) {
            for (int bit = 0; bit < 8; bit++) {
                byte[] b = all.clone();
                b[i] ^= (byte) (1 << bit);
                try {
                    SafeTensors.Contents c = SafeTensors.parse("flip.safetensors", b);
                    accepted++;
                    long bytes = c.tensors().values().stream().mapToLong(t -> t.data().length).sum();
                    assertEquals(all.length - 8 - n, bytes, "an accepted flip at byte " + i + " still covers the data exactly");
                } catch (SafeTensorsException e) {
                    refusedCount++;
                    assertTrue(e.getMessage().startsWith("flip.safetensors is not a valid safetensors file: "),
                            "byte " + i + " bit " + bit + ": " + e.getMessage());
                }
            }
        }
        assertTrue(refusedCount > 8 * n / 2, "most flips break the header: " + refusedCount + " refused, " + accepted + " accepted");
    }

    @Test
    void theHeaderLengthMustBeSane() throws IOException {
        byte[] all = Files.readAllBytes(valid);
        for (long len : new long[] {all.length - 7, 200_000_000L, -1L, 0}) {
            byte[] b = all.clone();
            ByteBuffer.wrap(b, 0, 8).order(ByteOrder.LITTLE_ENDIAN).putLong(len);
            Path f = Files.write(dir.resolve("len.safetensors"), b);
            String m = refused(f, "header");
            assertTrue(m.contains("header length") || m.contains("does not start with '{'"), m);
        }
        refused(Files.write(dir.resolve("short.safetensors"), new byte[] {1, 0, 0}), "3 bytes");
    }

    @Test
    void theHeaderMustBeOneStrictJsonObjectStartingWithABrace() throws IOException {
        refused(file("space", " " + header, data), "does not start with '{'");
        refused(file("single-quotes", header.replace("\"format\"", "'format'"), data), "not valid JSON", "line 1");
        refused(file("nan", header.replace("[2,3]", "[NaN,3]"), data), "not valid JSON");
        refused(file("comment", header.replace("{\"__metadata__\"", "{/* hi */\"__metadata__\""), data), "not valid JSON");
        refused(file("two-objects", header + "{}", data), "not valid JSON");
        refused(file("array", "[" + header + "]", data), "does not start with '{'");
        refused(file("surrogate", header.replace("\"w\":", "\"w\\ud800\":"), data), "unpaired UTF-16 surrogate");
    }

    @Test
    void keysWithLineBreaksStayOnOneLineInMessages() throws IOException {
        // Found by the fuzzer: a JSON path ($.w.a\nb) put a key's line break into the message.
        String m = refused(file("newline-dup", header.replace("\"dtype\":\"F32\"", "\"a\\nb\":1,\"a\\nb\":2,\"dtype\":\"F32\""), data),
                "the key \"a?b\" twice (at $.w.a?b)");
        assertFalse(m.contains("\n"), m);
        m = refused(file("newline-syntax", header.replace("\"dtype\":\"F32\"", "\"a\\nb\":tru"), data), "not valid JSON", "$.w.a?b");
        assertFalse(m.contains("\n"), m);
    }

    @Test
    void dtypesSizesAndFieldsAreChecked() throws IOException {
        JsonObject h = headerJson();
        h.getAsJsonObject("w").addProperty("dtype", "F31");
        refused(file("dtype", h.toString(), data), "tensor \"w\"", "dtype \"F31\" is not one of");
        h = headerJson();
        h.getAsJsonObject("n").addProperty("dtype", "I32");  // 4 bytes for a span of 8
        refused(file("dtype-size", h.toString(), data), "tensor \"n\"", "span 8 bytes", "takes 4");
        h = headerJson();
        h.getAsJsonObject("w").add("shape", ints(3, 3));
        refused(file("shape-size", h.toString(), data), "tensor \"w\"", "span 24 bytes", "[3, 3] of F32 takes 36");
        h = headerJson();
        h.getAsJsonObject("w").add("shape", ints(1L << 40, 1L << 40));
        refused(file("shape-overflow", h.toString(), data), "tensor \"w\"", "too large");
        h = headerJson();
        h.getAsJsonObject("w").addProperty("strides", 1);
        refused(file("unknown-field", h.toString(), data), "tensor \"w\"", "unknown field \"strides\"");
        h = headerJson();
        h.getAsJsonObject("w").remove("dtype");
        refused(file("no-dtype", h.toString(), data), "tensor \"w\"", "dtype is missing");
        h = headerJson();
        h.add("x", new JsonPrimitive(3));
        refused(file("not-object", h.toString(), data), "tensor \"x\" is 3, expected an object");
        h = headerJson();
        h.getAsJsonObject("__metadata__").addProperty("version", 2);
        refused(file("meta-number", h.toString(), data), "__metadata__ key \"version\" is 2, expected a string");
    }

    @Test
    void offsetsBeyondTheFileAreReportedAsTruncated() throws IOException {
        refused(file("truncated", header, Arrays.copyOf(data, data.length - 4)), "tensor \"h\" ends at byte 40",
                "only 36 bytes (truncated?)");
    }

    @Test
    void validFilesInAnyHeaderOrderAndEmptyFilesAreAccepted() throws IOException {
        // The header lists tensors in any order (PyTorch's lists them by name, its data by dtype size).
        JsonObject h = headerJson();
        JsonObject reordered = new JsonObject();
        for (String k : List.of("h", "e", "__metadata__", "n", "w")) reordered.add(k, h.get(k));
        SafeTensors.Contents c = SafeTensors.read(file("reordered", reordered.toString() + "    ", data));
        assertEquals(List.of("h", "e", "n", "w"), List.copyOf(c.tensors().keySet()));
        assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6}, c.tensors().get("w").toFloats());
        SafeTensors.Contents empty = SafeTensors.read(file("empty", "{}", new byte[0]));
        assertTrue(empty.tensors().isEmpty() && empty.metadata().isEmpty());
        Map<String, JsonElement> nullMeta = new LinkedHashMap<>(h.asMap());
        nullMeta.put("__metadata__", com.google.gson.JsonNull.INSTANCE);
        JsonObject o = new JsonObject();
        nullMeta.forEach(o::add);
        assertTrue(SafeTensors.read(file("null-meta", o.toString(), data)).metadata().isEmpty());
    }

    static int indexOf(byte[] hay, String needle) {
        byte[] n = needle.getBytes(StandardCharsets.UTF_8);
        outer:
        for (int i = 0; i <= hay.length - n.length; i++) {
            for (int j = 0; j < n.length; j++) if (hay[i + j] != n[j]) continue outer;
            return i;
        }
        throw new AssertionError(needle + " not found");
    }
}
