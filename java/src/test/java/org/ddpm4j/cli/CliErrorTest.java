package org.ddpm4j.cli;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import org.ddpm4j.binding.Backends;
import org.ddpm4j.testing.Cli;
import org.ddpm4j.testing.TestData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Wrong flags, missing files and impossible values: one clear line on stderr, exit code 2, no stack trace. */
class CliErrorTest {
    static void fails(String expected, String... args) {
        Cli.Result r = Cli.run(args);
        assertEquals(2, r.code(), r.toString());
        String err = r.err().strip();
        assertFalse(err.isEmpty(), r.toString());
        assertFalse(err.contains("\n"), "one line: " + r);
        assertFalse(err.contains("Exception") || err.contains("\tat "), "no stack trace: " + r);
        assertTrue(err.contains(expected), "expected '" + expected + "' in: " + err);
    }

    @Test
    void wrongFlags() {
        fails("Unknown option: '--bogus'", "train", "--bogus");
        fails("'abc' is not an int", "train", "--batch", "abc");
        fails("--device must be auto, cpu or cuda, got 'gpu'", "info", "--device", "gpu");
        fails("--preset must be seed or tiny, got 'huge'", "train", "--preset", "huge");
        fails("Missing required option: '--from=FILE'", "sample");
        fails("Unmatched argument", "nosuchcommand");
        fails("--precision must be fp32, tf32 or bf16, got 'fp16'", "bench", "--precision", "fp16");
        fails("--tf32 contradicts --precision fp32", "bench", "--tf32", "--precision", "fp32", "--device", "cpu");
        // export and import run no model: a device or precision would be silently ignored, so they are not options
        fails("Unknown options: '--device', 'cuda'", "export", "--from", "a.ckpt", "--out", "a.safetensors", "--device", "cuda");
        fails("Unknown options: '--precision', 'bf16'", "import", "--from", "a.safetensors", "--out", "a.ckpt", "--precision", "bf16");
        fails("--log-every must be in [1, 4096], got 5000", "train", "--log-every", "5000", "--out", "run");
        // A misspelt option names the nearest ones.
        fails("Unknown options: '--epoch', '3'; did you mean --epochs?", "train", "--epoch", "3");
        fails("--sampling-steps must be >= 1, got 0", "sample", "--from", "a.ckpt", "--sampler", "ddim", "--steps", "0");  // --steps: its alias
    }

    /**
     * bf16 on the CPU needs AVX512_BF16 (which Linux lists as avx512_bf16 in /proc/cpuinfo): where the CPU has it
     * the command runs in bf16, elsewhere it is refused in one line naming the instruction set, never silently run
     * in float32.
     */
    @Test
    void bf16OnTheCpuNeedsAvx512Bf16() throws Exception {
        String[] args = {"bench", "--precision", "bf16", "--device", "cpu", "--base-width", "2", "--batch", "2",
                "--timesteps", "20", "--warmup", "1", "--iters", "1"};
        boolean hasBf16 = Files.readString(Path.of("/proc/cpuinfo")).contains(" avx512_bf16");
        if (!hasBf16) {
            fails("needs the AVX512_BF16 instruction set", args);
            return;
        }
        Cli.Result r = Cli.run(args);
        assertEquals(0, r.code(), r.toString());
        assertTrue(r.out().contains("\"precision\":\"bf16\""), r.toString());
    }

    @Test
    void impossibleValues(@TempDir Path dir) {
        String out = dir.resolve("run").toString();
        fails("--depth must be in [1, 8], got 9", "train", "--depth", "9", "--out", out);
        fails("--batch must be >= 1, got 0", "train", "--batch", "0", "--out", out);
        fails("--lr must be a positive number", "train", "--lr", "-1", "--out", out);
        fails("--image-size must be at least 2^depth = 4, got 2", "train", "--depth", "2", "--image-size", "2", "--out", out);
        fails("--threads must be >= 0, got -3", "info", "--threads", "-3");
        fails("--iters must be >= 1, got 0", "bench", "--base-width", "2", "--batch", "2", "--iters", "0", "--device", "cpu");
        fails("CIFAR-10 images are 3x32x32 but the model is 3x64x64", "train", "--image-size", "64", "--base-width", "2",
                "--out", out, "--cifar-dir", TestData.syntheticCifar().toString(), "--device", "cpu");
        fails("unknown class 'unicorn'; the classes are: airplane", "train", "--class", "unicorn", "--base-width", "2",
                "--out", out, "--cifar-dir", TestData.syntheticCifar().toString(), "--device", "cpu");
        fails("--resume, --force are mutually exclusive", "train", "--resume", "--force", "--out", out);
        fails("finetune needs --class NAME", "finetune", "--from", out, "--device", "cpu");
    }

    @Test
    void missingAndForeignFiles(@TempDir Path dir) throws Exception {
        Path missing = dir.resolve("nope.ckpt");
        fails(missing + " does not exist", "sample", "--from", missing.toString(), "--device", "cpu");
        Path foreign = Files.writeString(dir.resolve("notes.txt"), "hello, not a model");
        fails(foreign + " is not a ddpm4j checkpoint", "sample", "--from", foreign.toString(), "--device", "cpu");
        fails(foreign + " is not a ddpm4j checkpoint", "export", "--from", foreign.toString(), "--out", dir.resolve("x.safetensors").toString());
        fails("nothing to resume: " + dir.resolve("run").resolve("model.ckpt") + " does not exist", "train", "--resume",
                "--out", dir.resolve("run").toString());
        fails("CIFAR-10 folder " + dir.resolve("nodata") + " does not exist", "train", "--base-width", "2", "--out",
                dir.resolve("r2").toString(), "--cifar-dir", dir.resolve("nodata").toString(), "--device", "cpu");
        fails("image folder " + dir.resolve("pics") + " does not exist", "train", "--images", dir.resolve("pics").toString(),
                "--base-width", "2", "--out", dir.resolve("r3").toString(), "--device", "cpu");
        Path png = Files.write(dir.resolve("one.png"), new byte[] {1});
        fails("image folder " + png + " is a file, not a folder", "train", "--images", png.toString(), "--base-width", "2",
                "--out", dir.resolve("r4").toString(), "--device", "cpu");
        Path trainOnly = Files.createDirectory(dir.resolve("train-only"));
        for (String f : new String[] {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
                "data_batch_5.bin", "batches.meta.txt"}) {
            Files.createSymbolicLink(trainOnly.resolve(f), TestData.syntheticCifar().resolve(f));
        }
        fails("lacks test_batch.bin", "train", "--split", "test", "--cifar-dir", trainOnly.toString(), "--base-width", "2",
                "--out", dir.resolve("r5").toString(), "--device", "cpu");
        Path truncated = dir.resolve("half.ckpt");
        Files.write(truncated, new byte[] {'D', 'D', 'P', 'M', '4', 'J', 'C', 'K', 1, 0, 0, 0, 6, 0, 'c'});
        fails("checkpoint " + truncated + " is truncated", "sample", "--from", truncated.toString(), "--device", "cpu");
        fails(dir.resolve("none.safetensors") + " does not exist", "import", "--from", dir.resolve("none.safetensors").toString(),
                "--out", dir.resolve("i.ckpt").toString());
    }

    @Test
    void cudaOnAMachineWithoutItIsOneLine() {
        if (Backends.cudaUsable(null) == null) return;  // a GPU machine: nothing to check here
        fails("CUDA is not available", "info", "--device", "cuda");
    }

    @Test
    void debugShowsTheStackTrace(@TempDir Path dir) {
        Cli.Result r = Cli.run("sample", "--from", dir.resolve("nope.ckpt").toString(), "--device", "cpu", "--debug");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("\tat org.ddpm4j."), r.toString());
    }

    @Test
    void helpForEveryCommand() {
        for (String cmd : new String[] {"train", "sample", "finetune", "export", "import", "info", "bench"}) {
            Cli.Result r = Cli.run(cmd, "--help");
            assertEquals(0, r.code(), r.toString());
            assertTrue(r.out().contains("Usage: ddpm " + cmd), r.toString());
            boolean runsAModel = !cmd.equals("export") && !cmd.equals("import");
            assertEquals(runsAModel, r.out().contains("--seed") && r.out().contains("--device"),
                    cmd + (runsAModel ? " takes the common options" : " runs no model, so it takes no --device"));
            assertTrue(r.out().contains("--debug"), r.toString());
        }
        Cli.Result r = Cli.run("--help");
        assertEquals(0, r.code());
        for (String cmd : new String[] {"train", "sample", "finetune", "export", "import", "info", "bench"}) {
            assertTrue(r.out().contains(cmd), "top-level help lists " + cmd);
        }
        assertEquals(0, Cli.run("--version").code());
    }
}
