// The parsers sluice ships, under Fluent Bit's names and with the field
// names of Fluent Bit's stock parsers.conf, so that configs and the filters
// after them carry over. The patterns are sluice's own; where they read more
// than Fluent Bit's (escaped quotes, RFC 5424 structured data, a missing
// message) the fields are still the same.
import type { ParserDef } from './parser.ts';

// Pieces shared by the access-log formats. A quoted field may hold \" (Apache
// escapes quotes in the request and the user agent).
const QUOTED = '(?:[^"\\\\]|\\\\.)*';
// "METHOD path PROTOCOL": the protocol is dropped, as in Fluent Bit; a
// request that is not a request ("-", garbage) is all method.
const REQUEST = `"(?<method>[^ "]+)(?: +(?<path>${QUOTED}?)(?: +[A-Z]+\\/[0-9.]+)?)?"`;
const CLF_TIME = '\\[(?<time>[^\\]]+)\\]';
const CLF_TIME_FORMAT = '%d/%b/%Y:%H:%M:%S %z';

// RFC 5424 STRUCTURED-DATA: "-" or [id param="value" ...]..., values may hold \" and \].
const SD_ELEMENT = '\\[(?:[^\\]"\\\\]|\\\\.|"(?:[^"\\\\]|\\\\.)*")*\\]';

// RFC 3164: "Mmm dd hh:mm:ss", the day padded with a space ("Oct  1").
const BSD_TIME = '(?<time>[A-Za-z]{3} +[0-9]{1,2} [0-9]{2}:[0-9]{2}:[0-9]{2})';
const BSD_TAG = '(?<ident>[\\w\\/.-]*)(?:\\[(?<pid>[0-9]+)\\])?:? *(?<message>.*)$';

export const STOCK_PARSERS: readonly ParserDef[] = [
  {
    // Docker's json-file driver: {"log":"...\n","stream":"stdout","time":"<RFC 3339, ns>"}.
    name: 'docker',
    format: 'json',
    time_key: 'time',
    time_format: '%Y-%m-%dT%H:%M:%S.%L',
    time_keep: true,
  },
  {
    // CRI (containerd, CRI-O) log files: "<RFC 3339 time> <stream> <P|F> <text>".
    // Fluent Bit's stock cri parser names the text "message" (its multiline
    // cri mode says "log"); this follows the stock parser.
    name: 'cri',
    format: 'regex',
    regex: '^(?<time>\\S+) (?<stream>stdout|stderr) (?<logtag>\\S*) (?<message>.*)$',
    time_key: 'time',
    time_format: '%Y-%m-%dT%H:%M:%S.%L%z',
    time_keep: true,
  },
  {
    name: 'syslog-rfc5424',
    format: 'regex',
    regex: `^<(?<pri>[0-9]{1,3})>1 (?<time>\\S+) (?<host>\\S+) (?<ident>\\S+) (?<pid>\\S+) (?<msgid>\\S+) (?<extradata>-|(?:${SD_ELEMENT})+)(?: (?<message>.*))?$`,
    time_key: 'time',
    time_format: '%Y-%m-%dT%H:%M:%S.%L%z',
    time_keep: true,
  },
  {
    name: 'syslog-rfc3164',
    format: 'regex',
    regex: `^<(?<pri>[0-9]{1,3})>${BSD_TIME} (?<host>\\S+) ${BSD_TAG}`,
    time_key: 'time',
    time_format: '%b %d %H:%M:%S',
    time_keep: true,
  },
  {
    // Local syslog sockets: RFC 3164 without the host.
    name: 'syslog-rfc3164-local',
    format: 'regex',
    regex: `^<(?<pri>[0-9]{1,3})>${BSD_TIME} ${BSD_TAG}`,
    time_key: 'time',
    time_format: '%b %d %H:%M:%S',
    time_keep: true,
  },
  {
    // Common and combined log formats.
    name: 'apache',
    format: 'regex',
    regex: `^(?<host>\\S+) \\S+ (?<user>\\S+) ${CLF_TIME} ${REQUEST} (?<code>\\S+) (?<size>\\S+)(?: "(?<referer>${QUOTED})" "(?<agent>${QUOTED})")?$`,
    time_key: 'time',
    time_format: CLF_TIME_FORMAT,
  },
  {
    // As apache, but the path is one word and the agent runs to the last quote.
    name: 'apache2',
    format: 'regex',
    regex: `^(?<host>\\S+) \\S+ (?<user>\\S+) ${CLF_TIME} "(?<method>[^ "]+)(?: +(?<path>\\S*) +\\S*)?" (?<code>\\S+) (?<size>\\S+)(?: "(?<referer>${QUOTED})" "(?<agent>.*)")?$`,
    time_key: 'time',
    time_format: CLF_TIME_FORMAT,
  },
  {
    // [Wed Oct 11 14:32:52.123456 2000] [core:error] [pid 35708:tid 4328636416] [client 1.2.3.4:5678] text.
    // No time_format, as in Fluent Bit: the time stays a field.
    name: 'apache_error',
    format: 'regex',
    regex: '^\\[\\S+ (?<time>[^\\]]+)\\] \\[(?<level>[^\\]]+)\\](?: \\[pid (?<pid>[^\\]]+)\\])?(?: \\[client (?<client>[^\\]]+)\\])? (?<message>.*)$',
  },
  {
    // nginx's combined format; fields after the user agent are allowed and ignored.
    name: 'nginx',
    format: 'regex',
    regex: `^(?<remote>\\S+) (?<host>\\S+) (?<user>\\S+) ${CLF_TIME} ${REQUEST} (?<code>\\S+) (?<size>\\S+) "(?<referer>${QUOTED})" "(?<agent>${QUOTED})"`,
    time_key: 'time',
    time_format: CLF_TIME_FORMAT,
  },
  {
    // Fluent Bit's stock json parser reads the time as an access-log time;
    // kept, so that a config moved over behaves the same.
    name: 'json',
    format: 'json',
    time_key: 'time',
    time_format: CLF_TIME_FORMAT,
  },
  {
    name: 'logfmt',
    format: 'logfmt',
  },
];
