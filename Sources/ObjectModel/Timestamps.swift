/// Conversions between seconds since 1970 (UTC) and the date formats S3 uses, without Foundation.
public enum Timestamps {
    private static let monthNames = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    private static let dayNames = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]

    /// Days since 1970-01-01 of a civil date (proleptic Gregorian).
    static func days(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// Civil date of days since 1970-01-01.
    static func civil(days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    private static func parts(_ seconds: Int64) -> (Int, Int, Int, Int, Int, Int, Int) {
        let dayCount = Int(seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400)
        let rest = Int(seconds - Int64(dayCount) * 86400)
        let (y, m, d) = civil(days: dayCount)
        let weekday = ((dayCount % 7) + 7) % 7
        return (y, m, d, rest / 3600, (rest / 60) % 60, rest % 60, weekday)
    }

    private static func pad(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }

    /// `20130524T000000Z`
    public static func amzDate(_ seconds: Int64) -> String {
        let (y, m, d, hh, mm, ss, _) = parts(seconds)
        return pad(y, 4) + pad(m, 2) + pad(d, 2) + "T" + pad(hh, 2) + pad(mm, 2) + pad(ss, 2) + "Z"
    }

    /// `2013-05-24T00:00:00.000Z`, as S3's XML shows times.
    public static func iso8601(millis: Int64) -> String {
        let seconds = millis >= 0 ? millis / 1000 : (millis - 999) / 1000
        let (y, m, d, hh, mm, ss, _) = parts(seconds)
        let ms = Int(millis - seconds * 1000)
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(hh, 2)):\(pad(mm, 2)):\(pad(ss, 2)).\(pad(ms, 3))Z"
    }

    /// `Fri, 24 May 2013 00:00:00 GMT`, as HTTP headers show times.
    public static func httpDate(_ seconds: Int64) -> String {
        let (y, m, d, hh, mm, ss, weekday) = parts(seconds)
        return "\(dayNames[weekday]), \(pad(d, 2)) \(monthNames[m - 1]) \(pad(y, 4)) \(pad(hh, 2)):\(pad(mm, 2)):\(pad(ss, 2)) GMT"
    }

    /// Parses `20130524T000000Z`.
    public static func parseAmzDate(_ text: String) -> Int64? {
        let bytes = Array(text.utf8)
        guard bytes.count == 16, bytes[8] == 0x54, bytes[15] == 0x5A else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for index in range {
                guard bytes[index] >= 0x30, bytes[index] <= 0x39 else { return nil }
                value = value * 10 + Int(bytes[index] - 0x30)
            }
            return value
        }
        guard let y = number(0..<4), let m = number(4..<6), let d = number(6..<8), let hh = number(9..<11),
              let mm = number(11..<13), let ss = number(13..<15), (1...12).contains(m), (1...31).contains(d),
              hh < 24, mm < 60, ss < 61 else { return nil }
        return Int64(days(year: y, month: m, day: d)) * 86400 + Int64(hh * 3600 + mm * 60 + ss)
    }

    /// Parses `Fri, 24 May 2013 00:00:00 GMT` (RFC 1123; the weekday is not checked).
    public static func parseHTTPDate(_ text: String) -> Int64? {
        let fields = text.split(separator: " ")
        guard fields.count == 6, fields[5] == "GMT" || fields[5] == "UTC",
              let day = Int(fields[1]), let monthIndex = monthNames.firstIndex(of: String(fields[2])),
              let year = Int(fields[3]) else { return nil }
        let time = fields[4].split(separator: ":")
        guard time.count == 3, let hh = Int(time[0]), let mm = Int(time[1]), let ss = Int(time[2]),
              (1...31).contains(day), hh < 24, mm < 60, ss < 61 else { return nil }
        return Int64(days(year: year, month: monthIndex + 1, day: day)) * 86400 + Int64(hh * 3600 + mm * 60 + ss)
    }

    /// Parses `2013-05-24T00:00:00Z` or with fractional seconds.
    public static func parseISO8601(_ text: String) -> Int64? {
        var compact = text.replacingOccurrences(of: "-", with: "").replacingOccurrences(of: ":", with: "")
        if let dot = compact.firstIndex(of: ".") {
            compact = String(compact[..<dot]) + "Z"
        }
        return parseAmzDate(compact)
    }
}

extension String {
    fileprivate func replacingOccurrences(of target: String, with replacement: String) -> String {
        split(separator: Character(target), omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
