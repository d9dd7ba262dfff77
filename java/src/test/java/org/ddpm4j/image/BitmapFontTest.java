package org.ddpm4j.image;

import static org.junit.jupiter.api.Assertions.*;

import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class BitmapFontTest {
    private static final BitmapFont FONT = BitmapFont.standard();

    private static String rows(char c) {
        StringBuilder b = new StringBuilder();
        for (int row = 0; row < BitmapFont.GLYPH_HEIGHT; row++) {
            for (int col = 0; col < BitmapFont.GLYPH_WIDTH; col++) b.append(FONT.ink(c, row, col) ? '#' : '.');
            b.append('\n');
        }
        return b.toString();
    }

    @Test
    void everyPrintableCharacterHasItsOwnGlyph() {
        Set<String> seen = new HashSet<>();
        for (char c = ' '; c <= '~'; c++) {
            assertTrue(seen.add(rows(c)), "'" + c + "' looks like another character");
            if (c != ' ') assertTrue(rows(c).contains("#"), "'" + c + "' has ink");
        }
        assertEquals("#####\n..#..\n..#..\n..#..\n..#..\n..#..\n..#..\n.....\n.....\n", rows('T'));
        assertTrue(rows('g').substring(7 * 6).contains("#"), "g has a descender");
        assertEquals(rows('?'), rows('\u00e9'), "outside ASCII: '?'");
    }

    @Test
    void drawPutsEachFontPixelOnAScaledSquareFromTheBaseline() {
        BufferedImage img = new BufferedImage(40, 40, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setColor(Color.WHITE);
        FONT.draw(g, "Tg", 3, 20, 2);
        g.dispose();
        for (int i = 0; i < 2; i++) {
            char c = "Tg".charAt(i);
            for (int row = 0; row < BitmapFont.GLYPH_HEIGHT; row++) {
                for (int col = 0; col < BitmapFont.GLYPH_WIDTH; col++) {
                    int x = 3 + i * BitmapFont.ADVANCE * 2 + col * 2, y = 20 - BitmapFont.ASCENT * 2 + row * 2;
                    boolean lit = (img.getRGB(x + 1, y + 1) & 0xFFFFFF) != 0;
                    assertEquals(FONT.ink(c, row, col), lit, c + " row " + row + " col " + col);
                }
            }
        }
        assertEquals(BitmapFont.width("Tg", 2), (2 * BitmapFont.ADVANCE - 1) * 2);
        assertEquals(0, BitmapFont.width("", 3));
    }

    private static List<String> font(String... extra) {
        List<String> lines = new ArrayList<>(List.of("# a comment", "= space", "....."));
        for (char c = '!'; c <= '~'; c++) {
            lines.add("= " + c);
            lines.add("#...#");
        }
        lines.addAll(List.of(extra));
        return lines;
    }

    @Test
    void badFontFilesAreReportedWithFileAndLine() {
        assertNotNull(BitmapFont.parse(font(), "f.txt"));
        String bad = assertThrows(IllegalStateException.class, () -> BitmapFont.parse(font("##x.."), "f.txt")).getMessage();
        assertTrue(bad.startsWith("f.txt line 192: expected 5 pixels"), bad);
        String twice = assertThrows(IllegalStateException.class, () -> BitmapFont.parse(font("= A"), "f.txt")).getMessage();
        assertTrue(twice.contains("a second glyph for 'A'"), twice);
        List<String> noZ = font();
        noZ.remove("= Z");
        String missing = assertThrows(IllegalStateException.class, () -> BitmapFont.parse(noZ, "f.txt")).getMessage();
        assertTrue(missing.endsWith("no glyph for 'Z'"), missing);
        List<String> tall = font("#...#", "#...#", "#...#", "#...#", "#...#", "#...#", "#...#", "#...#", "#...#");
        String rows = assertThrows(IllegalStateException.class, () -> BitmapFont.parse(tall, "f.txt")).getMessage();
        assertTrue(rows.contains("more than 9 rows"), rows);
        String name = assertThrows(IllegalStateException.class, () -> BitmapFont.parse(List.of("= AB"), "f.txt")).getMessage();
        assertTrue(name.contains("line 1: expected '= C'"), name);
    }
}
