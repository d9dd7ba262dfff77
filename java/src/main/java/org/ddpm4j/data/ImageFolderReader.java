package org.ddpm4j.data;

import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;
import javax.imageio.ImageIO;

/**
 * Reads the user's own pictures: one subfolder per class, each holding PNG or
 * JPEG files (a folder with images and no subfolders is one class). Images that
 * are not the model's size are resized (bilinear, whole image, aspect not kept)
 * when {@code resize} is set, otherwise rejected with a message naming the file.
 * Classes are the subfolders in name order; images within a class in file-name order.
 */
public final class ImageFolderReader {
    private ImageFolderReader() {}

    public static ImageSet read(Path root, int channels, int height, int width, boolean resize) {
        if (channels != 1 && channels != 3) throw new DataException("image folders need a model with 1 or 3 channels, not " + channels);
        if (!Files.isDirectory(root)) throw new DataException("image folder " + root + " does not exist");
        List<Path> classDirs = new ArrayList<>();
        List<Path> rootImages = listImages(root);
        try (Stream<Path> s = Files.list(root)) {
            s.filter(Files::isDirectory).filter(p -> !p.getFileName().toString().startsWith(".")).sorted()
                    .forEach(classDirs::add);
        } catch (IOException e) {
            throw new DataException("cannot list image folder " + root + ": " + e.getMessage(), e);
        }
        if (!rootImages.isEmpty() && !classDirs.isEmpty()) {
            throw new DataException("image folder " + root + " mixes images and subfolders; put every image in a class subfolder");
        }
        List<String> names = new ArrayList<>();
        List<List<Path>> files = new ArrayList<>();
        if (classDirs.isEmpty()) {
            names.add(root.toAbsolutePath().normalize().getFileName() == null ? "images"
                    : root.toAbsolutePath().normalize().getFileName().toString());
            files.add(rootImages);
        } else {
            for (Path d : classDirs) {
                List<Path> imgs = listImages(d);
                if (imgs.isEmpty()) continue;
                names.add(d.getFileName().toString());
                files.add(imgs);
            }
        }
        int total = files.stream().mapToInt(List::size).sum();
        if (total == 0) throw new DataException("image folder " + root + " holds no PNG or JPEG images");
        if (names.size() > 256) throw new DataException("image folder " + root + " has " + names.size() + " classes, at most 256 are supported");
        int per = channels * height * width;
        if ((long) per * total > Integer.MAX_VALUE - 8) throw new DataException("image folder " + root + " holds too many images to keep in memory");
        byte[] pixels = new byte[per * total];
        byte[] labels = new byte[total];
        int k = 0;
        for (int c = 0; c < files.size(); c++) {
            for (Path f : files.get(c)) {
                BufferedImage img = decode(f);
                if (img.getWidth() != width || img.getHeight() != height) {
                    if (!resize) {
                        throw new DataException("image " + f + " is " + img.getWidth() + "x" + img.getHeight()
                                + ", the model needs " + width + "x" + height + " (use --resize to scale images)");
                    }
                    img = scale(img, width, height);
                }
                toChw(img, channels, pixels, k * per);
                labels[k++] = (byte) c;
            }
        }
        return new ImageSet(pixels, labels, names, channels, height, width);
    }

    static boolean isImageName(String name) {
        String n = name.toLowerCase(Locale.ROOT);
        return !n.startsWith(".") && (n.endsWith(".png") || n.endsWith(".jpg") || n.endsWith(".jpeg"));
    }

    private static List<Path> listImages(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(Files::isRegularFile).filter(p -> isImageName(p.getFileName().toString())).sorted().toList();
        } catch (IOException e) {
            throw new DataException("cannot list image folder " + dir + ": " + e.getMessage(), e);
        }
    }

    private static BufferedImage decode(Path f) {
        BufferedImage img;
        try {
            img = ImageIO.read(f.toFile());
        } catch (IOException e) {
            throw new DataException("image " + f + " cannot be decoded: " + e.getMessage(), e);
        }
        if (img == null) throw new DataException("image " + f + " is not a readable PNG or JPEG");
        return img;
    }

    private static BufferedImage scale(BufferedImage src, int w, int h) {
        BufferedImage dst = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = dst.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BILINEAR);
        g.setRenderingHint(RenderingHints.KEY_RENDERING, RenderingHints.VALUE_RENDER_QUALITY);
        g.drawImage(src, 0, 0, w, h, null);
        g.dispose();
        return dst;
    }

    /** RGB planes (or luminance for one channel) into out at offset, (C, H, W). Alpha is dropped. */
    static void toChw(BufferedImage img, int channels, byte[] out, int offset) {
        int w = img.getWidth(), h = img.getHeight(), hw = w * h;
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int rgb = img.getRGB(x, y);
                int r = (rgb >> 16) & 0xff, g = (rgb >> 8) & 0xff, b = rgb & 0xff;
                int i = y * w + x;
                if (channels == 3) {
                    out[offset + i] = (byte) r;
                    out[offset + hw + i] = (byte) g;
                    out[offset + 2 * hw + i] = (byte) b;
                } else {
                    out[offset + i] = (byte) Math.round(0.299 * r + 0.587 * g + 0.114 * b);
                }
            }
        }
    }

    /** Encodes one (C, H, W) image as PNG bytes (used by tests and tools). */
    public static byte[] encodePng(byte[] chw, int channels, int height, int width) throws IOException {
        BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        int hw = height * width;
        for (int i = 0; i < hw; i++) {
            int r = chw[i] & 0xff;
            int g = channels == 3 ? chw[hw + i] & 0xff : r;
            int b = channels == 3 ? chw[2 * hw + i] & 0xff : r;
            img.setRGB(i % width, i / width, (r << 16) | (g << 8) | b);
        }
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        ImageIO.write(img, "png", bos);
        return bos.toByteArray();
    }
}
