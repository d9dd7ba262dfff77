package org.ddpm4j.checkpoint;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import com.google.gson.Strictness;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import java.io.IOException;
import java.io.StringReader;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * JSON read to the letter of RFC 8259, for the headers of the files we load: valid
 * UTF-8, strict syntax (no comments, NaN, single quotes or trailing commas), no
 * duplicate keys (Gson's own parser silently keeps the last), no unpaired surrogates
 * (they cannot be written back as UTF-8), and numbers kept as their literal text so
 * that {@code 16.9} or {@code "16"} is never taken for the integer 16.
 */
final class StrictJson {
    private static final Pattern INTEGER = Pattern.compile("-?(0|[1-9][0-9]*)");
    private static final int MAX_NESTING = 64;

    private StrictJson() {}

    /** Why a JSON text or value is not what is expected; the message says where ($.path). */
    static final class Invalid extends Exception {
        Invalid(String message) {
            super(message);
        }
    }

    /** A JSON number as written: its literal text, converted only when asked. */
    static final class Literal extends Number {
        private final String text;

        Literal(String text) {
            this.text = text;
        }

        @Override
        public long longValue() {
            if (isInteger(text)) {
                try {
                    return Long.parseLong(text);
                } catch (NumberFormatException outOfRange) {
                    // as for a fraction: the nearest double, saturated
                }
            }
            return (long) doubleValue();
        }

        @Override
        public int intValue() {
            return (int) longValue();
        }

        @Override
        public double doubleValue() {
            return Double.parseDouble(text);
        }

        @Override
        public float floatValue() {
            return Float.parseFloat(text);
        }

        @Override
        public String toString() {
            return text;
        }
    }

    static boolean isInteger(String literal) {
        return INTEGER.matcher(literal).matches();
    }

    /** Parses {@code length} bytes at {@code offset} as one JSON object (surrounding whitespace allowed). */
    static JsonObject parseObject(byte[] bytes, int offset, int length) throws Invalid {
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes, offset, length)).toString();
        } catch (CharacterCodingException e) {
            throw new Invalid("is not valid UTF-8");
        }
        JsonReader r = new JsonReader(new StringReader(text));
        r.setStrictness(Strictness.STRICT);
        r.setNestingLimit(MAX_NESTING);
        try {
            if (r.peek() != JsonToken.BEGIN_OBJECT) throw new Invalid("is not a JSON object");
            JsonObject o = readObject(r);
            if (r.peek() != JsonToken.END_DOCUMENT) throw new Invalid("has more after its JSON object");
            return o;
        } catch (IOException | IllegalStateException e) {  // MalformedJsonException, EOFException, or a nesting limit
            throw new Invalid("is not valid JSON: " + gsonMessage(e));
        }
    }

    private static JsonObject readObject(JsonReader r) throws IOException, Invalid {
        JsonObject o = new JsonObject();
        r.beginObject();
        while (r.hasNext()) {
            String name = r.nextName();
            checkUnicode(name, r);
            if (o.has(name)) throw new Invalid("has the key \"" + printable(name) + "\" twice (at " + path(r) + ")");
            o.add(name, readValue(r));
        }
        r.endObject();
        return o;
    }

    private static JsonElement readValue(JsonReader r) throws IOException, Invalid {
        switch (r.peek()) {
            case BEGIN_OBJECT:
                return readObject(r);
            case BEGIN_ARRAY: {
                JsonArray a = new JsonArray();
                r.beginArray();
                while (r.hasNext()) a.add(readValue(r));
                r.endArray();
                return a;
            }
            case STRING: {
                String s = r.nextString();
                checkUnicode(s, r);
                return new JsonPrimitive(s);
            }
            case NUMBER:
                return new JsonPrimitive(new Literal(r.nextString()));
            case BOOLEAN:
                return new JsonPrimitive(r.nextBoolean());
            case NULL:
                r.nextNull();
                return JsonNull.INSTANCE;
            default:
                throw new Invalid("is not valid JSON: unexpected " + r.peek() + " at " + path(r));
        }
    }

    private static void checkUnicode(String s, JsonReader r) throws Invalid {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                i++;
            } else if (Character.isSurrogate(c)) {
                throw new Invalid("has a string with an unpaired UTF-16 surrogate \\u" + Integer.toHexString(c)
                        + " (at " + path(r) + ")");
            }
        }
    }

    /** Gson's message without its advice to programmers: "malformed JSON at line 1 column 6 path $.a". */
    private static String gsonMessage(Exception e) {
        String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        int see = m.lastIndexOf("\nSee ");  // a link to Gson's troubleshooting guide
        if (see >= 0) m = m.substring(0, see);
        return clean(m.replace("Use JsonReader.setStrictness(Strictness.LENIENT) to accept malformed JSON", "malformed JSON"), 300);
    }

    /** Where the reader is ($.a.b[2]); keys are the file's, so control characters are masked. */
    private static String path(JsonReader r) {
        return clean(r.getPath(), 120);
    }

    // ---- typed access -------------------------------------------------------------------

    /** The JSON type of a value, in words, for messages. */
    static String describe(JsonElement e) {
        if (e == null) return "missing";
        if (e.isJsonNull()) return "null";
        if (e.isJsonObject()) return "an object";
        if (e.isJsonArray()) return "an array";
        JsonPrimitive p = e.getAsJsonPrimitive();
        if (p.isBoolean()) return p.getAsString();
        if (p.isNumber()) return printable(p.getAsString());
        return "the string \"" + printable(p.getAsString()) + "\"";
    }

    /** The value as a long, if it is an integer literal within [min, max]. */
    static long integer(JsonElement e, long min, long max, String where) throws Invalid {
        String what = min == 0 ? "a non-negative integer" : min == 1 ? "a positive integer" : "an integer";
        if (e == null || !e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber()
                || !isInteger(e.getAsString())) {
            throw new Invalid(where + " is " + describe(e) + ", expected " + what);
        }
        String t = e.getAsString();
        long v;
        try {
            v = Long.parseLong(t);
        } catch (NumberFormatException tooLong) {
            throw new Invalid(where + " is " + printable(t) + ", too large");
        }
        if (v < min || v > max) throw new Invalid(where + " is " + t + ", expected " + what + (max < Long.MAX_VALUE ? " up to " + max : ""));
        return v;
    }

    /**
     * Checks that {@code actual} has every field of {@code template} with the same JSON
     * type: integers where the template holds an Integer or Long (and in its range),
     * finite numbers where it holds a Float or Double, booleans, strings; a null in the
     * template means a string or null. Fields the template lacks are allowed.
     */
    static void checkTypes(JsonObject actual, JsonObject template, String path) throws Invalid {
        checkTypes(actual, template, path, java.util.Set.of());
    }

    /**
     * As {@link #checkTypes(JsonObject, JsonObject, String)}, where the fields named in {@code mayBeAbsent}
     * (by key, at any depth: fields later versions added) may be missing; when present they are checked.
     */
    static void checkTypes(JsonObject actual, JsonObject template, String path, java.util.Set<String> mayBeAbsent) throws Invalid {
        for (Map.Entry<String, JsonElement> en : template.entrySet()) {
            String where = path + "." + en.getKey();
            JsonElement want = en.getValue();
            JsonElement got = actual.get(en.getKey());
            if (got == null && mayBeAbsent.contains(en.getKey())) continue;
            if (want.isJsonNull()) {
                if (got != null && !got.isJsonNull() && !(got.isJsonPrimitive() && got.getAsJsonPrimitive().isString())) {
                    throw new Invalid(where + " is " + describe(got) + ", expected a string or null");
                }
            } else if (want.isJsonObject()) {
                if (got == null || !got.isJsonObject()) throw new Invalid(where + " is " + describe(got) + ", expected an object");
                checkTypes(got.getAsJsonObject(), want.getAsJsonObject(), where, mayBeAbsent);
            } else if (want.isJsonPrimitive()) {
                checkPrimitive(got, want.getAsJsonPrimitive(), where);
            }
        }
    }

    private static void checkPrimitive(JsonElement got, JsonPrimitive want, String where) throws Invalid {
        boolean primitive = got != null && got.isJsonPrimitive();
        if (want.isBoolean()) {
            if (!primitive || !got.getAsJsonPrimitive().isBoolean()) throw new Invalid(where + " is " + describe(got) + ", expected true or false");
        } else if (want.isString()) {
            if (!primitive || !got.getAsJsonPrimitive().isString()) throw new Invalid(where + " is " + describe(got) + ", expected a string");
        } else {
            Number n = want.getAsNumber();
            if (n instanceof Integer) {
                integer(got, Integer.MIN_VALUE, Integer.MAX_VALUE, where);
            } else if (n instanceof Long) {
                integer(got, Long.MIN_VALUE, Long.MAX_VALUE, where);
            } else {
                if (!primitive || !got.getAsJsonPrimitive().isNumber()) throw new Invalid(where + " is " + describe(got) + ", expected a number");
                Number v = got.getAsNumber();
                boolean finite = n instanceof Float ? Float.isFinite(v.floatValue()) : Double.isFinite(v.doubleValue());
                if (!finite) throw new Invalid(where + " is " + describe(got) + ", out of range");
            }
        }
    }

    /** At most 40 characters, control characters as '?', for messages. */
    static String printable(String s) {
        return clean(s, 40);
    }

    /**
     * At most {@code max} characters (then "..."), with control characters and lone
     * surrogates as '?': text from a file, put in a one-line message.
     */
    static String clean(String s, int max) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < s.length() && sb.length() < max; i++) {
            char c = s.charAt(i);
            sb.append(Character.isISOControl(c) || Character.isSurrogate(c) || c == '\u2028' || c == '\u2029' ? '?' : c);
        }
        return sb.length() < s.length() ? sb + "..." : sb.toString();
    }
}
