package org.ddpm4j.data;

import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.ComponentColorModel;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;
import org.ddpm4j.setting.Setting;
import org.ddpm4j.setting.SettingText;

/**
 * Reads the user's own pictures: one subfolder per class, each holding PNG or
 * JPEG files (a folder with images and no subfolders is one class). Images that
 * are not the model's size are scaled as {@code resize} says (the centred square
 * or the whole picture, with Pillow's antialiased bilinear filter), or with
 * {@link Resize#NONE} rejected with a message naming the file.
 * Classes are the subfolders in name order; images within a class in file-name order.
 */
public final class ImageFolderReader {
    private ImageFolderReader() {}

    public static ImageSet read(Path root, int channels, int height, int width, Resize resize) {
        if (channels != 1 && channels != 3) throw new DataException("image folders need a model with 1 or 3 channels, not " + channels);
        if (Files.isRegularFile(root)) throw new DataException("image folder " + root + " is a file, not a folder");
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
                BufferedImage img = decode(f, width, height, resize != Resize.NONE);
                int[] rgb = rgbPixels(img);
                if (img.getWidth() != width || img.getHeight() != height) {
                    rgb = resize.apply(rgb, img.getWidth(), img.getHeight(), width, height);
                }
                toChw(rgb, channels, pixels, k * per);
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

    /**
     * One picture of any size (up to the pixels ddpm4j decodes), as {@link #read} decodes folder images: the
     * size is read from the header first, so a forged size cannot make us allocate gigabytes, and a damaged
     * file is a DataException naming it. For the pictures of sampling (inpainting, image-to-image).
     */
    public static BufferedImage readPicture(Path f) {
        return decode(f, -1, -1, true);
    }

    /**
     * Decodes the first image of a file. Its size is read from the header first, so a
     * picture of the wrong size is refused (without --resize) and a forged size cannot
     * make us allocate gigabytes; decoders' runtime exceptions on damaged files become
     * a DataException naming the file.
     */
    private static BufferedImage decode(Path f, int width, int height, boolean resize) {
        try (ImageInputStream in = ImageIO.createImageInputStream(f.toFile())) {
            Iterator<ImageReader> readers = in == null ? null : ImageIO.getImageReaders(in);
            if (readers == null || !readers.hasNext()) throw new DataException("image " + f + " is not a readable PNG or JPEG");
            ImageReader reader = readers.next();
            try {
                reader.setInput(in, true, true);
                int w = reader.getWidth(0), h = reader.getHeight(0);
                if ((w != width || h != height) && !resize) {
                    throw new DataException(SettingText.of("image " + f + " is " + w + "x" + h + ", the model needs " + width
                            + "x" + height + " (use ", Setting.RESIZE, " crop or stretch to scale images)"));
                }
                if ((long) w * h > MAX_PIXELS) {
                    throw new DataException("image " + f + " is " + w + "x" + h + ", more than the " + MAX_PIXELS
                            + " pixels ddpm4j decodes");
                }
                BufferedImage img = reader.read(0);
                if (img == null) throw new DataException("image " + f + " is not a readable PNG or JPEG");
                return img;
            } finally {
                reader.dispose();
            }
        } catch (IOException | RuntimeException e) {
            if (e instanceof DataException d) throw d;
            throw new DataException("image " + f + " cannot be decoded: " + e.getClass().getSimpleName()
                    + (e.getMessage() == null ? "" : ": " + e.getMessage()), e);
        }
    }

    /** The largest picture decoded, in pixels (8192 x 8192). */
    private static final long MAX_PIXELS = 1L << 26;

    /**
     * Every pixel as 0xRRGGBB holding the values stored in the file, read from the
     * raster: {@code BufferedImage.getRGB} converts grey from linear to sRGB (a grey
     * PNG's 1 becomes 13, 65 becomes 138). Grey is repeated in R, G and B; samples of
     * other depths are scaled to 8 bits exactly, round(v * 255 / (2^bits - 1)); palette
     * images look their indices up; alpha is dropped. Colour spaces other than grey and
     * sRGB (an ICC profile) go through getRGB's conversion to sRGB.
     */
    static int[] rgbPixels(BufferedImage img) {
        int w = img.getWidth(), h = img.getHeight();
        ColorModel cm = img.getColorModel();
        Raster raster = img.getRaster();
        int[] out = new int[w * h];
        int type = cm.getColorSpace().getType();
        boolean plain = cm.getColorSpace().isCS_sRGB() || type == ColorSpace.TYPE_GRAY;
        if (cm instanceof IndexColorModel icm) {
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) out[y * w + x] = icm.getRGB(raster.getSample(x, y, 0)) & 0xffffff;
            }
        } else if (cm instanceof ComponentColorModel && plain) {
            int colours = cm.getNumColorComponents();
            int[] bits = cm.getComponentSize();
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    int r = to8(raster.getSample(x, y, 0), bits[0]);
                    int g = colours == 3 ? to8(raster.getSample(x, y, 1), bits[1]) : r;
                    int b = colours == 3 ? to8(raster.getSample(x, y, 2), bits[2]) : r;
                    out[y * w + x] = (r << 16) | (g << 8) | b;
                }
            }
        } else {  // packed sRGB (exact through getRGB) or another colour space (converted)
            img.getRGB(0, 0, w, h, out, 0, w);
            for (int i = 0; i < out.length; i++) out[i] &= 0xffffff;
        }
        return out;
    }

    /** A sample of {@code bits} bits as 8 bits, rounded to nearest. */
    static int to8(int v, int bits) {
        if (bits == 8) return v;
        long max = (1L << bits) - 1;
        return (int) ((v * 255L + max / 2) / max);
    }

    /** 0xRRGGBB pixels into out at offset as (C, H, W) planes, or as luminance for one channel (grey stays exact). */
    static void toChw(int[] rgb, int channels, byte[] out, int offset) {
        int hw = rgb.length;
        for (int i = 0; i < hw; i++) {
            int r = (rgb[i] >> 16) & 0xff, g = (rgb[i] >> 8) & 0xff, b = rgb[i] & 0xff;
            if (channels == 3) {
                out[offset + i] = (byte) r;
                out[offset + hw + i] = (byte) g;
                out[offset + 2 * hw + i] = (byte) b;
            } else {
                out[offset + i] = (byte) (r == g && g == b ? r : Math.round(0.299 * r + 0.587 * g + 0.114 * b));
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
