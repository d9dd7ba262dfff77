package org.ddpm4j.image;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Locale;
import java.util.zip.Deflater;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.ddpm4j.checkpoint.AtomicFiles;
import org.ddpm4j.sample.ImageSink;
import org.ddpm4j.sample.Images;

/**
 * Streams sampled images into a NumPy {@code .npz} whose {@code arr_0} is uint8 N x H x W x C,
 * the layout FID / IS evaluators read (OpenAI's guided-diffusion evaluator, torch-fidelity,
 * clean-fid): {@code np.load(f)["arr_0"]}. Pixels map from [-1, 1] exactly as in the PNGs
 * ({@link ImageGrid#toByte}). Images arrive in order, chunk by chunk, and are written as they
 * come (deflated, fast level), so any count fits in memory. The file appears complete or
 * not at all: it is written to {@code X.tmp} and renamed by {@link #finish}; {@link #close}
 * without finish deletes the temporary file.
 */
public final class NpzWriter implements ImageSink, AutoCloseable {
    private final Path file;
    private final Path tmp;
    private final FileChannel channel;
    private final ZipOutputStream zip;
    private final int count, height, width, channels;
    private int written;
    private boolean finished;

    public NpzWriter(Path file, int count, int channels, int height, int width) {
        this.file = file;
        this.tmp = AtomicFiles.tempFor(file.toAbsolutePath());
        this.count = count;
        this.channels = channels;
        this.height = height;
        this.width = width;
        try {
            if (tmp.getParent() != null) Files.createDirectories(tmp.getParent());
            channel = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                    StandardOpenOption.WRITE);
            OutputStream out = new BufferedOutputStream(Channels.newOutputStream(channel), 1 << 16);
            zip = new ZipOutputStream(out);
            zip.setLevel(Deflater.BEST_SPEED);
            zip.putNextEntry(new ZipEntry("arr_0.npy"));
            zip.write(npyHeader(count, height, width, channels));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file + ": " + e.getMessage(), e);
        }
    }

    /** The .npy (format 1.0) header of a C-order uint8 array of this shape, padded to 64 bytes. */
    static byte[] npyHeader(int n, int h, int w, int c) {
        String dict = String.format(Locale.ROOT, "{'descr': '|u1', 'fortran_order': False, 'shape': (%d, %d, %d, %d), }", n, h, w, c);
        int unpadded = 10 + dict.length() + 1;
        int pad = (64 - unpadded % 64) % 64;
        String text = dict + " ".repeat(pad) + "\n";
        byte[] body = text.getBytes(StandardCharsets.US_ASCII);
        byte[] out = new byte[10 + body.length];
        out[0] = (byte) 0x93;
        System.arraycopy("NUMPY".getBytes(StandardCharsets.US_ASCII), 0, out, 1, 5);
        out[6] = 1;
        out[7] = 0;
        out[8] = (byte) (body.length & 0xff);
        out[9] = (byte) (body.length >>> 8);
        System.arraycopy(body, 0, out, 10, body.length);
        return out;
    }

    @Override
    public void accept(int first, Images chunk) {
        if (first != written) throw new IllegalStateException("npz: images must come in order; expected " + written + ", got " + first);
        if (chunk.channels() != channels || chunk.height() != height || chunk.width() != width) {
            throw new IllegalArgumentException("npz: images of another shape");
        }
        if (written + chunk.count() > count) throw new IllegalStateException("npz: more than the " + count + " images announced");
        int hw = height * width;
        byte[] hwc = new byte[chunk.count() * hw * channels];
        float[] d = chunk.data();
        for (int k = 0; k < chunk.count(); k++) {
            int src = k * chunk.imageSize(), dst = k * hw * channels;
            for (int c = 0; c < channels; c++)
                for (int i = 0; i < hw; i++) hwc[dst + i * channels + c] = (byte) ImageGrid.toByte(d[src + c * hw + i]);
        }
        try {
            zip.write(hwc);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file + ": " + e.getMessage(), e);
        }
        written += chunk.count();
    }

    /** Completes the file: checks every announced image came, flushes, fsyncs, renames. */
    public void finish() {
        if (written != count) throw new IllegalStateException("npz: " + written + " of " + count + " images written");
        try {
            zip.closeEntry();
            zip.finish();
            zip.flush();
            channel.force(true);
            zip.close();
            AtomicFiles.commit(tmp, file);
            finished = true;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        if (finished) return;
        try {
            zip.close();
        } catch (IOException ignored) {
            // the temporary file is deleted below either way
        }
        try {
            Files.deleteIfExists(tmp);
        } catch (IOException ignored) {
            // nothing else to do: an unfinished X.tmp never replaces X
        }
    }
}
