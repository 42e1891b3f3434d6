import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Router, globToRegExp } from '../../host/engine/router.ts';

function matches(glob: string, tag: string): boolean {
  return globToRegExp(glob).test(tag);
}

describe('globToRegExp', () => {
  test('* matches every tag, including the empty one', () => {
    for (const tag of ['', 'app', 'app.web', 'kube.var.log.containers.x', 'a*b', '.']) assert.equal(matches('*', tag), true, tag);
  });

  test('app.* matches tags under app. only', () => {
    for (const tag of ['app.', 'app.web', 'app.web.1']) assert.equal(matches('app.*', tag), true, tag);
    for (const tag of ['app', 'appXweb', 'xapp.web', 'application.web', 'APP.web']) assert.equal(matches('app.*', tag), false, tag);
  });

  test('dots are literal', () => {
    assert.equal(matches('app.web', 'app.web'), true);
    assert.equal(matches('app.web', 'appxweb'), false);
    assert.equal(matches('a.b.c', 'a_b_c'), false);
    assert.equal(matches('*.log', 'var.log'), true);
    assert.equal(matches('*.log', 'varxlog'), false);
  });

  test('anchored at both ends', () => {
    assert.equal(matches('app', 'app'), true);
    assert.equal(matches('app', 'my.app'), false);
    assert.equal(matches('app', 'app.web'), false);
  });

  test('* in the middle and several *', () => {
    assert.equal(matches('kube.*.log', 'kube.var.log'), true);
    assert.equal(matches('kube.*.log', 'kube.a.b.log'), true);
    assert.equal(matches('kube.*.log', 'kube.log'), false);
    assert.equal(matches('*.web.*', 'eu.web.1'), true);
    assert.equal(matches('*.web.*', 'eu.api.1'), false);
  });

  test('other regex characters are literal too', () => {
    for (const glob of ['a+b', 'a?b', '(a)', '[ab]', 'a|b', '^a$', 'a{2}', 'a\\b', 'a$b']) {
      assert.equal(matches(glob, glob), true, glob);
    }
    assert.equal(matches('a+b', 'aab'), false);
    assert.equal(matches('a?b', 'b'), false);
    assert.equal(matches('[ab]', 'a'), false);
    assert.equal(matches('a|b', 'a'), false);
  });
});

describe('Router', () => {
  test('routes a tag to every matching output, in order', () => {
    const outs = [
      { name: 'all', match: globToRegExp('*') },
      { name: 'app', match: globToRegExp('app.*') },
      { name: 'web', match: /^app\.web$/ },
    ];
    const r = new Router(outs);
    assert.deepEqual(r.route('app.web').map((o) => o.name), ['all', 'app', 'web']);
    assert.deepEqual(r.route('app.api').map((o) => o.name), ['all', 'app']);
    assert.deepEqual(r.route('sys').map((o) => o.name), ['all']);
    // cached answers are the same
    assert.deepEqual(r.route('app.web').map((o) => o.name), ['all', 'app', 'web']);
    assert.deepEqual(new Router([{ name: 'x', match: globToRegExp('x') }]).route('y'), []);
  });
});
