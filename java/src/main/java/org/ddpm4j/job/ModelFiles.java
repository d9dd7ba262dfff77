package org.ddpm4j.job;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import org.ddpm4j.checkpoint.Checkpoint;
import org.ddpm4j.checkpoint.CheckpointException;
import org.ddpm4j.checkpoint.CheckpointFile;
import org.ddpm4j.checkpoint.ModelState;
import org.ddpm4j.checkpoint.SafeTensors;
import org.ddpm4j.checkpoint.SeedWeights;
import org.ddpm4j.model.UNetConfig;

/** Loads model weights from a ddpm4j checkpoint or a seed-format safetensors file. */
public final class ModelFiles {
    private ModelFiles() {}

    public enum Kind { CHECKPOINT, SAFETENSORS }

    /**
     * @param state the weights
     * @param checkpoint the whole checkpoint, or null for a safetensors file
     */
    public record Loaded(ModelState state, Checkpoint checkpoint) {}

    public static Kind detect(Path file) {
        if (!Files.isRegularFile(file)) {
            throw new CheckpointException((Files.exists(file) ? file + " is not a regular file" : file + " does not exist"));
        }
        if (CheckpointFile.hasMagic(file)) return Kind.CHECKPOINT;
        try (InputStream in = Files.newInputStream(file)) {
            byte[] head = in.readNBytes(9);
            long size = Files.size(file);
            if (head.length == 9) {
                long n = ByteBuffer.wrap(head, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
                if (n >= 2 && n <= size - 8 && head[8] == '{') return Kind.SAFETENSORS;
            }
        } catch (IOException e) {
            throw new CheckpointException("cannot read " + file + ": " + e.getMessage(), e);
        }
        throw new CheckpointException(file + " is not a ddpm4j checkpoint (nor a safetensors file)");
    }

    /**
     * @param fallback image size and betas for a safetensors file without ddpm4j metadata
     */
    public static Loaded load(Path file, UNetConfig fallback) {
        if (detect(file) == Kind.CHECKPOINT) {
            Checkpoint c = CheckpointFile.read(file);
            return new Loaded(c.model(), c);
        }
        return new Loaded(readSafetensors(file, fallback), null);
    }

    /**
     * Reads and checks a seed-format safetensors file (names and shapes as the seed UNet, strictly),
     * host-side: no backend, no native model.
     */
    public static ModelState readSafetensors(Path file, UNetConfig fallback) {
        SafeTensors.Contents contents = SafeTensors.read(file);
        UNetConfig cfg = SeedWeights.inferConfig(contents, fallback, file.toString());
        TensorTable table = TensorTable.of(cfg);
        return SeedWeights.toModelState(contents, cfg, table.params(), table.buffers(), file.toString());
    }

    /** Writes a model's weights as seed-format safetensors. */
    public static void writeSafetensors(ModelState state, Path file) {
        TensorTable table = TensorTable.of(state.config());
        SafeTensors.write(file, SeedWeights.export(state, table.params(), table.buffers()), SeedWeights.metadata(state));
    }
}
