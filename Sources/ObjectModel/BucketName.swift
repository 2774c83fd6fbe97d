/// Checks of S3's bucket naming rules (general purpose buckets).
public enum BucketName {
    /// Why a bucket name is invalid, or nil when it is valid.
    public static func problem(_ name: String) -> String? {
        let bytes = Array(name.utf8)
        guard bytes.count >= 3, bytes.count <= 63 else { return "must be between 3 and 63 characters long" }
        for byte in bytes {
            let allowed = (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39) || byte == 0x2E || byte == 0x2D
            guard allowed else { return "may contain only lower-case letters, digits, dots and hyphens" }
        }
        guard isAlphanumeric(bytes.first!), isAlphanumeric(bytes.last!) else {
            return "must begin and end with a letter or digit"
        }
        if name.contains("..") { return "must not contain two adjacent periods" }
        if name.contains(".-") || name.contains("-.") { return "must not contain a period next to a hyphen" }
        if isIPv4(name) { return "must not be formatted as an IP address" }
        for prefix in ["xn--", "sthree-", "amzn-s3-demo-"] where name.hasPrefix(prefix) {
            return "must not start with \(prefix)"
        }
        for suffix in ["-s3alias", "--ol-s3", ".mrap", "--x-s3"] where name.hasSuffix(suffix) {
            return "must not end with \(suffix)"
        }
        return nil
    }

    /// True when `name` satisfies the rules.
    public static func isValid(_ name: String) -> Bool { problem(name) == nil }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39)
    }

    private static func isIPv4(_ name: String) -> Bool {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { part in
            !part.isEmpty && part.count <= 3 && part.allSatisfy(\.isASCII) && part.allSatisfy(\.isNumber)
        }
    }
}

/// Checks of object keys.
public enum ObjectKey {
    /// Why a key is invalid, or nil. Keys are stored literally: `../x` and control characters are valid names.
    public static func problem(_ key: String) -> String? {
        let count = key.utf8.count
        if count == 0 { return "object key must not be empty" }
        if count > Limits.objectKeyBytesMax { return "object key is \(count) bytes; the limit is \(Limits.objectKeyBytesMax)" }
        return nil
    }
}

/// Checks of tenant names.
public enum TenantName {
    /// Why a tenant name is invalid, or nil: 1 to 64 of `a-z 0-9 - _`, starting with a letter or digit.
    public static func problem(_ name: String) -> String? {
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty, bytes.count <= Limits.tenantNameBytesMax else {
            return "tenant name must be 1 to \(Limits.tenantNameBytesMax) characters"
        }
        for byte in bytes {
            let ok = (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39) || byte == 0x2D || byte == 0x5F
            guard ok else { return "tenant name may contain only a-z, 0-9, '-' and '_'" }
        }
        guard bytes[0] != 0x2D, bytes[0] != 0x5F else { return "tenant name must start with a letter or digit" }
        return nil
    }
}
