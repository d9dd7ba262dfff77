package org.ddpm4j.image;

import java.awt.Graphics2D;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * A 5x9 pixel font for printable ASCII, drawn as filled squares, so charts get their text
 * without the JVM's font system. Java2D text goes through libfontmanager, which on
 * Debian/Ubuntu JDKs (and runtimes jlink'd from them) links the system's libfreetype and
 * libharfbuzz: where those are missing, as on bare GPU hosts, every string fails, and a
 * TTF bundled through {@code Font.createFont} goes through the same library.
 * The glyphs are in {@code font-5x9.txt} beside this class (its header gives the format).
 */
final class BitmapFont {
    static final int GLYPH_WIDTH = 5;
    /** Rows above the baseline; the glyph's last two rows are descenders. */
    static final int ASCENT = 7;
    static final int GLYPH_HEIGHT = 9;
    /** Horizontal step from one character to the next: the glyph and one column of space. */
    static final int ADVANCE = GLYPH_WIDTH + 1;
    static final String RESOURCE = "font-5x9.txt";
    private static final char FIRST = ' ', LAST = '~';

    /** Glyph of character c at [c - FIRST]: bit (row * GLYPH_WIDTH + column) is ink. */
    private final long[] glyphs;

    private BitmapFont(long[] glyphs) {
        this.glyphs = glyphs;
    }

    /** The font shipped in the jar. */
    static BitmapFont standard() {
        return Holder.FONT;
    }

    private static final class Holder {
        static final BitmapFont FONT = load();

        private static BitmapFont load() {
            try (InputStream in = BitmapFont.class.getResourceAsStream(RESOURCE)) {
                if (in == null) throw new IllegalStateException("the jar lacks " + RESOURCE + " beside BitmapFont");
                BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
                return parse(r.lines().toList(), RESOURCE);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read " + RESOURCE + ": " + e.getMessage(), e);
            }
        }
    }

    /** Reads the glyph format of font-5x9.txt; {@code source} names the file in errors. */
    static BitmapFont parse(List<String> lines, String source) {
        long[] glyphs = new long[LAST - FIRST + 1];
        boolean[] seen = new boolean[glyphs.length];
        int current = -1, row = 0;
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i);
            String where = source + " line " + (i + 1) + ": ";
            if (line.isEmpty() || line.startsWith("# ") || line.equals("#")) continue;
            if (line.startsWith("= ")) {
                String name = line.substring(2);
                char c = name.equals("space") ? ' ' : name.length() == 1 ? name.charAt(0) : 0;
                if (c < FIRST || c > LAST) {
                    throw new IllegalStateException(where + "expected '= C' with one printable ASCII character or '= space', got '" + line + "'");
                }
                current = c - FIRST;
                if (seen[current]) throw new IllegalStateException(where + "a second glyph for '" + c + "'");
                seen[current] = true;
                row = 0;
                continue;
            }
            if (current < 0) throw new IllegalStateException(where + "pixel rows before the first '= C' line");
            if (row == GLYPH_HEIGHT) {
                throw new IllegalStateException(where + "glyph '" + (char) (current + FIRST) + "' has more than " + GLYPH_HEIGHT + " rows");
            }
            if (!line.matches("[#.]{" + GLYPH_WIDTH + "}")) {
                throw new IllegalStateException(where + "expected " + GLYPH_WIDTH + " pixels of '#' or '.', got '" + line + "'");
            }
            for (int col = 0; col < GLYPH_WIDTH; col++) {
                if (line.charAt(col) == '#') glyphs[current] |= 1L << (row * GLYPH_WIDTH + col);
            }
            row++;
        }
        List<String> missing = new ArrayList<>();
        for (int k = 0; k < seen.length; k++) if (!seen[k]) missing.add("'" + (char) (k + FIRST) + "'");
        if (!missing.isEmpty()) throw new IllegalStateException(source + ": no glyph for " + String.join(", ", missing));
        return new BitmapFont(glyphs);
    }

    /** Width in pixels of {@code s} drawn at {@code scale} (no space after the last character). */
    static int width(String s, int scale) {
        return s.isEmpty() ? 0 : (s.length() * ADVANCE - 1) * scale;
    }

    /** True where the glyph of {@code c} (a character outside printable ASCII draws as '?') has ink. */
    boolean ink(char c, int row, int col) {
        int k = (c >= FIRST && c <= LAST ? c : '?') - FIRST;
        return (glyphs[k] >>> (row * GLYPH_WIDTH + col) & 1) != 0;
    }

    /**
     * Draws {@code s} in the current colour with its baseline at {@code baseline}, each font
     * pixel a {@code scale} x {@code scale} square; g's transform applies (rotated labels).
     */
    void draw(Graphics2D g, String s, int x, int baseline, int scale) {
        int top = baseline - ASCENT * scale;
        for (int i = 0; i < s.length(); i++) {
            int left = x + i * ADVANCE * scale;
            for (int row = 0; row < GLYPH_HEIGHT; row++) {
                for (int col = 0; col < GLYPH_WIDTH; col++) {
                    if (ink(s.charAt(i), row, col)) g.fillRect(left + col * scale, top + row * scale, scale, scale);
                }
            }
        }
    }
}
