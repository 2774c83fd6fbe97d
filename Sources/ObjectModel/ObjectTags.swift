/// S3 object tags: the rules a tag set must meet, checked in one place for every way tags arrive
/// (PutObjectTagging, `x-amz-tagging` on PutObject, CopyObject and CreateMultipartUpload).
public enum ObjectTags {
    /// Why `tags` cannot be an object's tag set (S3 answers `InvalidTag`), or nil: at most ``Limits/objectTagsMax``
    /// tags, keys of 1…128 characters and values of up to 256, unique keys (compared as bytes), none under the
    /// reserved `aws:` prefix, and only letters, digits, spaces and `+ - = . _ : / @`.
    public static func problem(_ tags: [(String, String)]) -> String? {
        guard tags.count <= Limits.objectTagsMax else {
            return "Object tags cannot be greater than \(Limits.objectTagsMax)"
        }
        var seen = Set<[UInt8]>()
        for (key, value) in tags {
            guard !key.isEmpty, key.count <= Limits.tagKeyCharactersMax else {
                return "The TagKey you have provided is invalid"
            }
            guard value.count <= Limits.tagValueCharactersMax else { return "The TagValue you have provided is invalid" }
            guard !key.lowercased().hasPrefix("aws:") else { return "Your TagKey cannot be prefixed with aws:" }
            guard allowed(key) else { return "The TagKey you have provided is invalid" }
            guard allowed(value) else { return "The TagValue you have provided is invalid" }
            guard seen.insert(Array(key.utf8)).inserted else { return "Cannot provide multiple Tags with the same key" }
        }
        return nil
    }

    private static func allowed(_ text: String) -> Bool {
        text.unicodeScalars.allSatisfy { scalar in
            scalar.properties.isAlphabetic || scalar.properties.numericType != nil || scalar == " "
                || "+-=._:/@".unicodeScalars.contains(scalar)
        }
    }
}
