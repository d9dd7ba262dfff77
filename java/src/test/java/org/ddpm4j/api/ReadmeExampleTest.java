package org.ddpm4j.api;

import static org.junit.jupiter.api.Assertions.*;

import java.awt.image.BufferedImage;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.imageio.ImageIO;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import org.ddpm4j.testing.TestData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The README's "Use from Java" example, exactly as written: its java block is compiled against the
 * test classpath and run in a child JVM whose working folder is a temporary one, and what it prints
 * and writes is checked, so the example cannot rot.
 */
class ReadmeExampleTest {
    static final Pattern JAVA_BLOCK = Pattern.compile("```java\\n(.*?)```", Pattern.DOTALL);
    static final Pattern CLASS = Pattern.compile("public class (\\w+)");

    /** The java blocks of the README section "## Use from Java". */
    static List<String> javaBlocks() throws Exception {
        String readme = Files.readString(TestData.repoRoot().resolve("README.md"), StandardCharsets.UTF_8);
        int start = readme.indexOf("\n## Use from Java\n");
        assertTrue(start >= 0, "README.md has a section '## Use from Java'");
        int end = readme.indexOf("\n## ", start + 1);
        String section = readme.substring(start, end < 0 ? readme.length() : end);
        List<String> blocks = new ArrayList<>();
        Matcher m = JAVA_BLOCK.matcher(section);
        while (m.find()) blocks.add(m.group(1));
        return blocks;
    }

    @Test
    void theExampleCompilesAndRunsAsWritten(@TempDir Path tmp) throws Exception {
        List<String> blocks = javaBlocks();
        assertEquals(1, blocks.size(), "one complete example");
        String source = blocks.get(0);
        Matcher cls = CLASS.matcher(source);
        assertTrue(cls.find(), "the example declares a public class");
        String name = cls.group(1);
        Path src = Files.createDirectories(tmp.resolve("src")), classes = Files.createDirectories(tmp.resolve("classes"));
        Path file = Files.writeString(src.resolve(name + ".java"), source);
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        assertNotNull(javac, "a JDK runs the tests");
        String cp = System.getProperty("java.class.path");
        int rc = javac.run(null, null, null, "-d", classes.toString(), "-cp", cp, file.toString());
        assertEquals(0, rc, "the example compiles");

        Path work = Files.createDirectories(tmp.resolve("work"));
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process p = new ProcessBuilder(java, "-Xmx1g", "-cp", classes + File.pathSeparator + cp, name).directory(work.toFile())
                .redirectOutput(tmp.resolve("out.txt").toFile()).redirectError(tmp.resolve("err.txt").toFile()).start();
        assertTrue(p.waitFor(300, TimeUnit.SECONDS), "the example finishes");
        String out = Files.readString(tmp.resolve("out.txt")), err = Files.readString(tmp.resolve("err.txt"));
        String all = "--- stdout\n" + out + "--- stderr\n" + err;
        assertEquals(0, p.exitValue(), all);

        // Every step's loss once, in order, 1 to 12, then the stop.
        Matcher step = Pattern.compile("step (\\d+): loss (\\S+)").matcher(out);
        int expected = 1;
        while (step.find()) {
            assertEquals(expected++, Integer.parseInt(step.group(1)), all);
            double loss = Double.parseDouble(step.group(2));
            assertTrue(loss > 0 && loss < 10, "a plausible loss: " + loss);
        }
        assertEquals(13, expected, "losses of steps 1 to 12: " + all);
        for (int e = 1; e <= 3; e++) assertTrue(out.contains("epoch " + e + ": mean loss "), all);
        assertFalse(out.contains("epoch 4:"), all);
        assertTrue(out.contains("stopped at step 12; checkpoint " + Path.of("runs", "discs", "model.ckpt")), all);
        assertTrue(out.contains("drew 8 images of 32x32 from 3x32x32 images, base width 4, depth 2, time_dim 100, T=40"), all);

        assertTrue(Files.exists(work.resolve("runs/discs/model.ckpt")), all);
        BufferedImage png = ImageIO.read(work.resolve("disc-0.png").toFile());
        assertNotNull(png, "disc-0.png decodes");
        assertEquals(32, png.getWidth());
        assertEquals(32, png.getHeight());
    }
}
