// Loads a .properties file the way Jenkins' readProperties does (a Reader over the text)
// and prints each entry as hex(key) TAB hex(value), so tests can compare the exact strings.
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.Properties;

public class ReadProperties {
    public static void main(String[] args) throws Exception {
        String text = new String(Files.readAllBytes(Paths.get(args[0])), StandardCharsets.UTF_8);
        Properties properties = new Properties();
        properties.load(new StringReader(text));
        for (String key : properties.stringPropertyNames()) {
            System.out.println(hex(key) + "\t" + hex(properties.getProperty(key)));
        }
    }

    private static String hex(String s) {
        StringBuilder out = new StringBuilder();
        for (byte b : s.getBytes(StandardCharsets.UTF_8)) {
            out.append(String.format("%02x", b));
        }
        return out.toString();
    }
}
