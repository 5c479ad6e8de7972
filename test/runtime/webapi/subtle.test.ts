// crypto.subtle inside a snapshot isolate, against published known-answer
// vectors where the algorithm is deterministic and round trips where it is not.
import { createHmac, createPrivateKey, createPublicKey, verify as nodeVerify, webcrypto } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebapiIsolate, type WebapiIsolate } from '../../helpers/webapi-isolate.ts';
import { subtleOp, type KeyDescriptor } from '../../../runtime/host-ops/crypto.ts';

let iso: WebapiIsolate;
let other: WebapiIsolate;
beforeAll(async () => {
  [iso, other] = await Promise.all([createWebapiIsolate(), createWebapiIsolate()]);
  // Helpers every test body can use.
  await iso.run(`
    globalThis.hex = (b) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, '0')).join('');
    globalThis.unhex = (s) => new Uint8Array(s.match(/../g).map((h) => parseInt(h, 16)));
    globalThis.utf8 = (s) => new TextEncoder().encode(s);
    globalThis.errName = async (p) => { try { await p; return 'resolved'; } catch (e) { return (e instanceof DOMException ? 'DOMException:' : '') + e.name; } };`);
});
afterAll(() => {
  iso.dispose();
  other.dispose();
});

describe('crypto.subtle surface', () => {
  it('exposes crypto.subtle as a SubtleCrypto, with CryptoKey and SubtleCrypto globals that cannot be constructed', async () => {
    expect(
      await iso.run(`
        const out = ['subtle' in crypto, crypto.subtle instanceof SubtleCrypto, crypto.subtle === crypto.subtle, Object.prototype.toString.call(crypto.subtle)];
        for (const C of [CryptoKey, SubtleCrypto]) { try { new C(); out.push('constructed'); } catch (e) { out.push(e.name); } }
        return out;`),
    ).toEqual([true, true, true, '[object SubtleCrypto]', 'TypeError', 'TypeError']);
  });
});

describe('digest', () => {
  it('matches the FIPS 180 "abc" vectors for SHA-1/256/384/512 and accepts any BufferSource', async () => {
    expect(
      await iso.run(`
        const out = [];
        for (const h of ['SHA-1', 'SHA-256', { name: 'SHA-384' }, 'sha-512']) out.push(hex(await crypto.subtle.digest(h, utf8('abc'))));
        const view = new DataView(utf8('xxabcxx').buffer, 2, 3);
        out.push(hex(await crypto.subtle.digest('SHA-256', view)));
        out.push((await crypto.subtle.digest('SHA-256', new ArrayBuffer(0))) instanceof ArrayBuffer);
        return out;`),
    ).toEqual([
      'a9993e364706816aba3e25717850c26c9cd0d89d',
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
      'cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7',
      'ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f',
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
      true,
    ]);
  });

  it('rejects an unknown algorithm with NotSupportedError and a non-BufferSource or missing argument with TypeError', async () => {
    expect(
      await iso.run(`return [
        await errName(crypto.subtle.digest('SHA-7', utf8('a'))),
        await errName(crypto.subtle.digest('SHA-256', 'abc')),
        await errName(crypto.subtle.digest('SHA-256')),
        await errName(crypto.subtle.digest({}, utf8('a'))),
      ];`),
    ).toEqual(['DOMException:NotSupportedError', 'TypeError', 'TypeError', 'TypeError']);
  });

  it('hashes the bytes as they were at call time, not after the caller mutates them', async () => {
    expect(
      await iso.run(`
        const b = utf8('abc');
        const p = crypto.subtle.digest('SHA-256', b);
        b.fill(0);
        return hex(await p);`),
    ).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});

describe('HMAC', () => {
  it('signs RFC 4231 test case 2 and verifies it, and refuses a wrong MAC', async () => {
    expect(
      await iso.run(`
        const key = await crypto.subtle.importKey('raw', utf8('Jefe'), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
        const data = utf8('what do ya want for nothing?');
        const mac = await crypto.subtle.sign('HMAC', key, data);
        const bad = new Uint8Array(mac).slice(); bad[0] ^= 1;
        return [hex(mac), await crypto.subtle.verify('HMAC', key, mac, data), await crypto.subtle.verify('HMAC', key, bad, data),
          key.type, key.extractable, key.algorithm.name, key.algorithm.hash.name, key.algorithm.length, [...key.usages]];`),
    ).toEqual(['5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843', true, false, 'secret', false, 'HMAC', 'SHA-256', 32, ['sign', 'verify']]);
  });

  it('generates a key whose raw export the host can check with node:crypto', async () => {
    const [raw, mac] = await iso.run<[string, string]>(`
      const key = await crypto.subtle.generateKey({ name: 'HMAC', hash: 'SHA-512' }, true, ['sign']);
      return [hex(await crypto.subtle.exportKey('raw', key)), hex(await crypto.subtle.sign('HMAC', key, utf8('m')))];`);
    expect(mac).toBe(createHmac('sha512', Buffer.from(raw, 'hex')).update('m').digest('hex'));
  });
});

describe('CryptoKey', () => {
  it('has frozen algorithm and usages, a CryptoKey tag, and cannot be forged from its prototype', async () => {
    expect(
      await iso.run(`
        const key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 128 }, false, ['encrypt', 'decrypt']);
        'use strict';
        const out = [Object.isFrozen(key.algorithm), Object.isFrozen(key.usages), key.algorithm === key.algorithm, Object.prototype.toString.call(key), key instanceof CryptoKey];
        key.algorithm.name = 'X'; out.push(key.algorithm.name);
        const fake = Object.create(CryptoKey.prototype);
        out.push(await errName(crypto.subtle.encrypt({ name: 'AES-GCM', iv: new Uint8Array(12) }, fake, utf8('a'))));
        out.push(await errName(crypto.subtle.encrypt({ name: 'AES-GCM', iv: new Uint8Array(12) }, { type: 'secret' }, utf8('a'))));
        try { key.type; out.push(Object.getOwnPropertyDescriptor(CryptoKey.prototype, 'type').get.call({})); } catch (e) { out.push(e.name); }
        return out;`),
    ).toEqual([true, true, true, '[object CryptoKey]', true, 'AES-GCM', 'TypeError', 'TypeError', 'TypeError']);
  });

  it('refuses to export a non-extractable key (InvalidAccessError) and to import a secret key with no usages (SyntaxError DOMException)', async () => {
    expect(
      await iso.run(`
        const key = await crypto.subtle.generateKey({ name: 'AES-CBC', length: 256 }, false, ['encrypt']);
        return [
          await errName(crypto.subtle.exportKey('raw', key)),
          await errName(crypto.subtle.importKey('raw', new Uint8Array(16), { name: 'HMAC', hash: 'SHA-256' }, false, [])),
          await errName(crypto.subtle.importKey('jwk', { kty: 'EC' }, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify'])),
          await errName(crypto.subtle.importKey('bogus', new Uint8Array(16), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])),
          await errName(crypto.subtle.decrypt({ name: 'AES-CBC', iv: new Uint8Array(16) }, key, new Uint8Array(16))),
        ];`),
    ).toEqual(['DOMException:InvalidAccessError', 'DOMException:SyntaxError', 'DOMException:DataError', 'TypeError', 'DOMException:InvalidAccessError']);
  });

  it('keeps key material on the host: an id means nothing in another isolate, nor after release', async () => {
    const ctxA = iso.opContext;
    const ctxB = other.opContext;
    const d = (await subtleOp({ method: 'generateKey', alg: { name: 'HMAC', hash: 'SHA-256' }, extractable: true, usages: ['sign'] }, ctxA)) as KeyDescriptor;
    expect(Object.keys(d).sort()).toEqual(['algorithm', 'extractable', 'id', 'type', 'usages']);
    expect(await subtleOp({ method: 'exportKey', format: 'raw', key: d.id }, ctxA)).toBeInstanceOf(Uint8Array);
    await expect(subtleOp({ method: 'exportKey', format: 'raw', key: d.id }, ctxB)).rejects.toMatchObject({ name: 'InvalidAccessError' });
    // A collected CryptoKey's id rides on the next call; after it the id is dead.
    await subtleOp({ method: 'digest', alg: 'SHA-256', data: new Uint8Array(1), release: [d.id] }, ctxA);
    await expect(subtleOp({ method: 'exportKey', format: 'raw', key: d.id }, ctxA)).rejects.toMatchObject({ name: 'InvalidAccessError' });
  });
});

describe('AES', () => {
  it('AES-GCM round-trips with additional data, and a flipped ciphertext bit fails with OperationError', async () => {
    expect(
      await iso.run(`
        const key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, true, ['encrypt', 'decrypt']);
        const iv = crypto.getRandomValues(new Uint8Array(12));
        const alg = { name: 'AES-GCM', iv, additionalData: utf8('hdr'), tagLength: 128 };
        const ct = await crypto.subtle.encrypt(alg, key, utf8('attack at dawn'));
        const pt = new TextDecoder().decode(await crypto.subtle.decrypt(alg, key, ct));
        const bad = new Uint8Array(ct).slice(); bad[0] ^= 1;
        return [ct.byteLength, pt, await errName(crypto.subtle.decrypt(alg, key, bad)), await errName(crypto.subtle.decrypt({ ...alg, additionalData: utf8('other') }, key, ct))];`),
    ).toEqual([14 + 16, 'attack at dawn', 'DOMException:OperationError', 'DOMException:OperationError']);
  });

  it('AES-CBC matches the NIST SP 800-38A F.2.1 vector, and AES-CTR round-trips', async () => {
    expect(
      await iso.run(`
        const key = await crypto.subtle.importKey('raw', unhex('2b7e151628aed2a6abf7158809cf4f3c'), 'AES-CBC', false, ['encrypt']);
        const ct = await crypto.subtle.encrypt({ name: 'AES-CBC', iv: unhex('000102030405060708090a0b0c0d0e0f') }, key, unhex('6bc1bee22e409f96e93d7e117393172a'));
        const ctr = await crypto.subtle.generateKey({ name: 'AES-CTR', length: 128 }, false, ['encrypt', 'decrypt']);
        const alg = { name: 'AES-CTR', counter: new Uint8Array(16), length: 64 };
        const back = await crypto.subtle.decrypt(alg, ctr, await crypto.subtle.encrypt(alg, ctr, utf8('counter mode')));
        return [hex(ct).slice(0, 32), new TextDecoder().decode(back)];`),
    ).toEqual(['7649abac8119b246cee98e9b12e9197d', 'counter mode']);
  });

  it('wraps a key with AES-KW and unwraps the same key material', async () => {
    expect(
      await iso.run(`
        const kek = await crypto.subtle.generateKey({ name: 'AES-KW', length: 128 }, false, ['wrapKey', 'unwrapKey']);
        const key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 128 }, true, ['encrypt']);
        const wrapped = await crypto.subtle.wrapKey('raw', key, kek, 'AES-KW');
        const back = await crypto.subtle.unwrapKey('raw', wrapped, kek, 'AES-KW', 'AES-GCM', true, ['encrypt']);
        return [wrapped.byteLength, hex(await crypto.subtle.exportKey('raw', back)) === hex(await crypto.subtle.exportKey('raw', key)), back.algorithm.name];`),
    ).toEqual([24, true, 'AES-GCM']);
  });
});

describe('ECDSA and Ed25519', () => {
  it('ECDSA P-256 signs and verifies, and the public key survives JWK and SPKI export/import', async () => {
    const r = await iso.run<{ ok: boolean[]; jwk: Record<string, unknown>; spki: string; sig: string }>(`
      const { publicKey, privateKey } = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
      const alg = { name: 'ECDSA', hash: 'SHA-256' };
      const data = utf8('signed message');
      const sig = await crypto.subtle.sign(alg, privateKey, data);
      const jwk = await crypto.subtle.exportKey('jwk', publicKey);
      const fromJwk = await crypto.subtle.importKey('jwk', jwk, { name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify']);
      const spki = await crypto.subtle.exportKey('spki', publicKey);
      const fromSpki = await crypto.subtle.importKey('spki', spki, { name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify']);
      const pkcs8 = await crypto.subtle.exportKey('pkcs8', privateKey);
      const priv2 = await crypto.subtle.importKey('pkcs8', pkcs8, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
      const sig2 = await crypto.subtle.sign(alg, priv2, data);
      return { ok: [
        await crypto.subtle.verify(alg, publicKey, sig, data),
        await crypto.subtle.verify(alg, fromJwk, sig, data),
        await crypto.subtle.verify(alg, fromSpki, sig2, data),
        await crypto.subtle.verify(alg, publicKey, sig, utf8('other message')),
        publicKey.type === 'public' && privateKey.type === 'private' && privateKey.algorithm.namedCurve === 'P-256',
      ], jwk, spki: hex(spki), sig: hex(sig) };`);
    expect(r.ok).toEqual([true, true, true, false, true]);
    expect(r.jwk).toMatchObject({ kty: 'EC', crv: 'P-256', ext: true });
    expect(r.sig).toHaveLength(128);
    // The host's own ECDSA reads the exported key and the raw (r||s) signature.
    const pub = createPublicKey({ key: Buffer.from(r.spki, 'hex'), format: 'der', type: 'spki' });
    expect(nodeVerify('sha256', Buffer.from('signed message'), { key: pub, dsaEncoding: 'ieee-p1363' }, Buffer.from(r.sig, 'hex'))).toBe(true);
  });

  it('Ed25519 reproduces RFC 8032 §7.1 test 1 from an imported JWK and verifies it with the raw public key', async () => {
    const seed = Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex');
    const pub = Buffer.from('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', 'hex');
    const jwk = { kty: 'OKP', crv: 'Ed25519', d: seed.toString('base64url'), x: pub.toString('base64url') };
    expect(
      await iso.run(`
        const priv = await crypto.subtle.importKey('jwk', ${JSON.stringify(jwk)}, 'Ed25519', false, ['sign']);
        const pub = await crypto.subtle.importKey('raw', unhex('${pub.toString('hex')}'), { name: 'Ed25519' }, true, ['verify']);
        const sig = await crypto.subtle.sign('Ed25519', priv, new Uint8Array(0));
        const gen = await crypto.subtle.generateKey('Ed25519', false, ['sign', 'verify']);
        const s2 = await crypto.subtle.sign('Ed25519', gen.privateKey, utf8('x'));
        return [hex(sig), await crypto.subtle.verify('Ed25519', pub, sig, new Uint8Array(0)), await crypto.subtle.verify('Ed25519', gen.publicKey, s2, utf8('x')), await crypto.subtle.verify('Ed25519', gen.publicKey, s2, utf8('y'))];`),
    ).toEqual([
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
      true,
      true,
      false,
    ]);
  });
});

describe('RSA', () => {
  it('RSA-PSS and RSASSA-PKCS1-v1_5 sign and verify, RSA-OAEP round-trips with a label, and the host reads the exported private key', async () => {
    const r = await iso.run<{ ok: unknown[]; pkcs8: string }>(`
      const e = new Uint8Array([1, 0, 1]);
      const pss = await crypto.subtle.generateKey({ name: 'RSA-PSS', modulusLength: 2048, publicExponent: e, hash: 'SHA-256' }, true, ['sign', 'verify']);
      const data = utf8('rsa');
      const sig = await crypto.subtle.sign({ name: 'RSA-PSS', saltLength: 32 }, pss.privateKey, data);
      const v1 = await crypto.subtle.generateKey({ name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: e, hash: 'SHA-256' }, false, ['sign', 'verify']);
      const sig1 = await crypto.subtle.sign('RSASSA-PKCS1-v1_5', v1.privateKey, data);
      const oaep = await crypto.subtle.generateKey({ name: 'RSA-OAEP', modulusLength: 2048, publicExponent: e, hash: 'SHA-256' }, false, ['encrypt', 'decrypt']);
      const ct = await crypto.subtle.encrypt({ name: 'RSA-OAEP', label: utf8('L') }, oaep.publicKey, utf8('secret'));
      const pt = new TextDecoder().decode(await crypto.subtle.decrypt({ name: 'RSA-OAEP', label: utf8('L') }, oaep.privateKey, ct));
      return { ok: [
        await crypto.subtle.verify({ name: 'RSA-PSS', saltLength: 32 }, pss.publicKey, sig, data),
        await crypto.subtle.verify({ name: 'RSA-PSS', saltLength: 32 }, pss.publicKey, sig, utf8('RSA')),
        await crypto.subtle.verify('RSASSA-PKCS1-v1_5', v1.publicKey, sig1, data),
        pt,
        await errName(crypto.subtle.decrypt({ name: 'RSA-OAEP', label: utf8('M') }, oaep.privateKey, ct)),
        pss.publicKey.algorithm.modulusLength, [...pss.publicKey.algorithm.publicExponent], pss.publicKey.algorithm.hash.name,
        await errName(crypto.subtle.sign({ name: 'RSA-PSS', saltLength: 32 }, pss.publicKey, data)),
        await errName(crypto.subtle.sign('RSA-PSS', pss.privateKey, data)),
      ], pkcs8: hex(await crypto.subtle.exportKey('pkcs8', pss.privateKey)) };`);
    expect(r.ok).toEqual([true, false, true, 'secret', 'DOMException:OperationError', 2048, [1, 0, 1], 'SHA-256', 'DOMException:InvalidAccessError', 'TypeError']);
    expect(createPrivateKey({ key: Buffer.from(r.pkcs8, 'hex'), format: 'der', type: 'pkcs8' }).asymmetricKeyDetails?.modulusLength).toBe(2048);
  });
});

describe('key derivation', () => {
  it('PBKDF2-HMAC-SHA-256 matches RFC 7914 §11 and HKDF-SHA-256 matches RFC 5869 A.1', async () => {
    expect(
      await iso.run(`
        const pw = await crypto.subtle.importKey('raw', utf8('passwd'), 'PBKDF2', false, ['deriveBits']);
        const pb = await crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt: utf8('salt'), iterations: 1 }, pw, 512);
        const ikm = await crypto.subtle.importKey('raw', new Uint8Array(22).fill(0x0b), 'HKDF', false, ['deriveBits', 'deriveKey']);
        const hk = await crypto.subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: unhex('000102030405060708090a0b0c'), info: unhex('f0f1f2f3f4f5f6f7f8f9') }, ikm, 42 * 8);
        const aes = await crypto.subtle.deriveKey({ name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info: new Uint8Array(0) }, ikm, { name: 'AES-GCM', length: 128 }, false, ['encrypt']);
        return [hex(pb), hex(hk), aes.algorithm.name, aes.algorithm.length];`),
    ).toEqual([
      '55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783',
      '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
      'AES-GCM',
      128,
    ]);
  });

  it('ECDH P-256: both sides derive the same bits and the same AES key', async () => {
    expect(
      await iso.run(`
        const a = await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits', 'deriveKey']);
        const b = await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits', 'deriveKey']);
        const ab = await crypto.subtle.deriveBits({ name: 'ECDH', public: b.publicKey }, a.privateKey, 256);
        const ba = await crypto.subtle.deriveBits({ name: 'ECDH', public: a.publicKey }, b.privateKey, 256);
        const ka = await crypto.subtle.deriveKey({ name: 'ECDH', public: b.publicKey }, a.privateKey, { name: 'AES-GCM', length: 256 }, true, ['encrypt', 'decrypt']);
        const kb = await crypto.subtle.deriveKey({ name: 'ECDH', public: a.publicKey }, b.privateKey, { name: 'AES-GCM', length: 256 }, true, ['encrypt', 'decrypt']);
        const iv = new Uint8Array(12);
        const ct = await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, ka, utf8('shared'));
        return [ab.byteLength, hex(ab) === hex(ba), new TextDecoder().decode(await crypto.subtle.decrypt({ name: 'AES-GCM', iv }, kb, ct)),
          await errName(crypto.subtle.deriveBits({ name: 'ECDH', public: {} }, a.privateKey, 256))];`),
    ).toEqual([32, true, 'shared', 'TypeError']);
  });
});

describe('agreement with the host WebCrypto', () => {
  it('an HMAC made in the isolate verifies with the host subtle on the same raw key', async () => {
    const [raw, mac] = await iso.run<[string, string]>(`
      const key = await crypto.subtle.generateKey({ name: 'HMAC', hash: 'SHA-256', length: 256 }, true, ['sign']);
      return [hex(await crypto.subtle.exportKey('raw', key)), hex(await crypto.subtle.sign('HMAC', key, utf8('host')))];`);
    const k = await webcrypto.subtle.importKey('raw', Buffer.from(raw, 'hex'), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
    expect(await webcrypto.subtle.verify('HMAC', k, Buffer.from(mac, 'hex'), Buffer.from('host'))).toBe(true);
  });
});
