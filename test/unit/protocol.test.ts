import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { APP_PROTOCOL_VERSIONS, CORE_PROTOCOL_VERSION, formatHandshake, negotiateVersion, parseHandshake } from '../../sdk/src/protocol.ts';

describe('parseHandshake', () => {
  test('accepts the unix handshake line', () => {
    assert.deepEqual(parseHandshake('1|1|unix|/tmp/x.sock|grpc'), {
      coreVersion: 1, appVersion: 1, network: 'unix', address: '/tmp/x.sock', protocol: 'grpc',
    });
  });

  test('accepts a trailing newline, tcp, and a server certificate', () => {
    assert.equal(parseHandshake('1|1|unix|/tmp/x.sock|grpc\n').address, '/tmp/x.sock');
    assert.deepEqual(parseHandshake('1|1|tcp|127.0.0.1:4321|grpc|MIIBcert'), {
      coreVersion: 1, appVersion: 1, network: 'tcp', address: '127.0.0.1:4321', protocol: 'grpc', serverCert: 'MIIBcert',
    });
    assert.equal('serverCert' in parseHandshake('1|1|unix|/tmp/x.sock|grpc|'), false);
  });

  test('round trips formatHandshake', () => {
    const line = formatHandshake(1, 'unix', '/run/sluice/p.sock');
    assert.equal(line, '1|1|unix|/run/sluice/p.sock|grpc');
    assert.deepEqual(parseHandshake(line), { coreVersion: CORE_PROTOCOL_VERSION, appVersion: 1, network: 'unix', address: '/run/sluice/p.sock', protocol: 'grpc' });
  });

  test('a version the host supports among several', () => {
    assert.equal(parseHandshake('1|2|unix|/tmp/x.sock|grpc', [1, 2]).appVersion, 2);
  });

  test('rejects a wrong core protocol version', () => {
    assert.throws(() => parseHandshake('2|1|unix|/tmp/x.sock|grpc'), { message: 'core protocol version "2" is not 1' });
    assert.throws(() => parseHandshake('x|1|unix|/tmp/x.sock|grpc'), { message: 'core protocol version "x" is not 1' });
  });

  test('rejects a wrong app protocol version, naming both sides', () => {
    assert.throws(() => parseHandshake('1|7|unix|/tmp/x.sock|grpc'), { message: 'plugin speaks protocol version "7"; this host speaks 1, 2' });
    assert.throws(() => parseHandshake('1|3|unix|/tmp/x.sock|grpc', [1, 2]), { message: 'plugin speaks protocol version "3"; this host speaks 1, 2' });
  });

  test('rejects a protocol other than grpc', () => {
    assert.throws(() => parseHandshake('1|1|unix|/tmp/x.sock|netrpc'), { message: 'protocol must be grpc, got "netrpc"' });
  });

  test('rejects an unknown network and an empty address', () => {
    assert.throws(() => parseHandshake('1|1|udp|/tmp/x.sock|grpc'), { message: 'network must be unix or tcp, got "udp"' });
    assert.throws(() => parseHandshake('1|1|unix||grpc'), { message: 'empty address' });
  });

  test('rejects garbage, quoting it', () => {
    for (const line of ['', 'hello world', 'Listening on /tmp/x.sock', '1|1|unix', '1|1|unix|/a|grpc|cert|more']) {
      assert.throws(() => parseHandshake(line), (err: Error) => {
        assert.equal(err.message, `expected "1|<app-version>|unix|<path>|grpc", got ${JSON.stringify(line)}`);
        return true;
      }, JSON.stringify(line));
    }
  });

  test('quotes at most 200 characters of a long garbage line', () => {
    const line = 'x'.repeat(5000);
    assert.throws(() => parseHandshake(line), { message: `expected "1|<app-version>|unix|<path>|grpc", got "${'x'.repeat(200)}"` });
  });
});

describe('negotiateVersion', () => {
  test('the highest version both sides speak', () => {
    assert.equal(negotiateVersion('1', [1]), 1);
    assert.equal(negotiateVersion('1,2', [1, 2]), 2);
    assert.equal(negotiateVersion(' 2 , 1 ', [1, 2]), 2);
    assert.equal(negotiateVersion('1,2,3', [2, 1]), 2);
    assert.equal(negotiateVersion('1,3', [1, 2, 3]), 3);
  });
  test('undefined when there is none in common', () => {
    assert.equal(negotiateVersion('2,3', [1]), undefined);
    assert.equal(negotiateVersion(undefined, [1]), undefined);
    assert.equal(negotiateVersion('', [1]), undefined);
    assert.equal(negotiateVersion('abc', [1]), undefined);
  });
  test('defaults to the versions this build speaks', () => {
    assert.deepEqual(APP_PROTOCOL_VERSIONS, [1, 2]);
    assert.equal(negotiateVersion('1'), 1);
    assert.equal(negotiateVersion('1,2'), 2);
    assert.equal(negotiateVersion('0,3'), undefined);
  });
});
