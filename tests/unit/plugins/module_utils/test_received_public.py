# Copyright (c) mailops.xclient contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Real Received headers from public mailing-list archives (linux-kernel, linux-bluetooth,
linux-mm, git and xen-devel messages as the lists distributed them), unfolded; the
identity each one records written by hand. Figure: all 24 read as written here (asserted
below); with SpamAssassin's samples see test_received_corpus.py."""

from __future__ import annotations

import pytest

from ansible_collections.mailops.xclient.plugins.module_utils._received import (
    Identity,
    ReceivedError,
    identity_for,
    parse_received,
)

U = "[UNAVAILABLE]"
NO_CLIENT = None  # a hop with no network client: never read as one

PUBLIC = [
    # --- Postfix (lfdr.de, kernel.org, kvack.org, monkeyblade.net)
    ("from sv.mirrors.kernel.org (sv.mirrors.kernel.org [IPv6:2604:1380:45e3:2400::1])\tby"
     " mail.lfdr.de (Postfix) with ESMTPS id EA79B8AB710\tfor <lists+linux-bluetooth@lfdr.de>;"
     " Sat, 20 Apr 2024 00:06:20 +0200 (CEST)",
     Identity("2604:1380:45e3:2400::1", "sv.mirrors.kernel.org", "sv.mirrors.kernel.org",
              "ESMTP")),
    ("from smtp.subspace.kernel.org (wormhole.subspace.kernel.org [52.25.139.140])\t(using"
     " TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits))\t(No client"
     " certificate requested)\tby sv.mirrors.kernel.org (Postfix) with ESMTPS id A8769283078"
     "\tfor <lists+linux-bluetooth@lfdr.de>; Fri, 19 Apr 2024 22:06:19 +0000 (UTC)",
     Identity("52.25.139.140", "wormhole.subspace.kernel.org", "smtp.subspace.kernel.org",
              "ESMTP")),
    ("from localhost.localdomain (localhost.localdomain [127.0.0.1])\tby"
     " smtp.subspace.kernel.org (Postfix) with ESMTP id 693C813D276;\tFri, 19 Apr 2024"
     " 22:06:15 +0000 (UTC)",
     Identity("127.0.0.1", "localhost.localdomain", "localhost.localdomain", "ESMTP")),
    ("from mx0b-0031df01.pphosted.com (mx0b-0031df01.pphosted.com [205.220.180.131])\t(using"
     " TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits))\t(No client"
     " certificate requested)\tby smtp.subspace.kernel.org (Postfix) with ESMTPS id"
     " 6EE1512DD97\tfor <linux-bluetooth@vger.kernel.org>; Fri, 19 Apr 2024 22:06:13 +0000"
     " (UTC)",
     Identity("205.220.180.131", "mx0b-0031df01.pphosted.com", "mx0b-0031df01.pphosted.com",
              "ESMTP")),
    ("from out1.vger.email (out1.vger.email [IPv6:2620:137:e000::1:20])\tby mail.lfdr.de"
     " (Postfix) with ESMTP id 466DF7B6E33\tfor <lists+linux-kernel@lfdr.de>; Tue,  3 Oct"
     " 2023 18:17:56 +0200 (CEST)",
     Identity("2620:137:e000::1:20", "out1.vger.email", "out1.vger.email", "ESMTP")),
    ("from frasgout.his.huawei.com (frasgout.his.huawei.com [185.176.79.56])        by"
     " lindbergh.monkeyblade.net (Postfix) with ESMTPS id 7A984AF;        Tue,  3 Oct 2023"
     " 09:17:46 -0700 (PDT)",
     Identity("185.176.79.56", "frasgout.his.huawei.com", "frasgout.his.huawei.com",
              "ESMTP")),
    # Postfix with its mail_name changed (Huawei's "SkyGuard")
    ("from lhrpeml500005.china.huawei.com (unknown [172.18.147.226])        by"
     " frasgout.his.huawei.com (SkyGuard) with ESMTP id 4S0NGw0PMnz6K5tf;        Wed,  4 Oct"
     " 2023 00:16:08 +0800 (CST)",
     Identity("172.18.147.226", U, "lhrpeml500005.china.huawei.com", "ESMTP")),
    ("from mail-pg0-f72.google.com (mail-pg0-f72.google.com [74.125.83.72])\tby"
     " kanga.kvack.org (Postfix) with ESMTP id 21A046B0260\tfor <linux-mm@kvack.org>; Wed,"
     " 27 Sep 2017 19:56:24 -0400 (EDT)",
     Identity("74.125.83.72", "mail-pg0-f72.google.com", "mail-pg0-f72.google.com",
              "ESMTP")),
    # --- Sendmail (Proofpoint, Qualcomm)
    ("from pps.filterd (m0279871.ppops.net [127.0.0.1])\tby mx0a-0031df01.pphosted.com"
     " (8.17.1.24/8.17.1.24) with ESMTP id 43JLfBtP010920;\tFri, 19 Apr 2024 22:06:07 GMT",
     Identity("127.0.0.1", "m0279871.ppops.net", "pps.filterd", "ESMTP")),
    ("from nasanex01a.na.qualcomm.com (nasanex01a.na.qualcomm.com [10.52.223.231])\tby"
     " NASANPPMTA05.qualcomm.com (8.17.1.5/8.17.1.5) with ESMTPS id 43JM65Ro011185"
     "\t(version=TLSv1.2 cipher=ECDHE-RSA-AES256-GCM-SHA384 bits=256 verify=NOT);\tFri, 19"
     " Apr 2024 22:06:05 GMT",
     Identity("10.52.223.231", "nasanex01a.na.qualcomm.com", "nasanex01a.na.qualcomm.com",
              "ESMTP")),
    # Proofpoint's own front end: does not say whether it checked the name
    ("from nasanppmta05.qualcomm.com (i-global254.qualcomm.com [199.106.103.254])\tby"
     " mx0a-0031df01.pphosted.com (PPS) with ESMTPS id 3xkkss9qfj-1\t(version=TLSv1.2"
     " cipher=ECDHE-RSA-AES256-GCM-SHA384 bits=256 verify=NOT);\tFri, 19 Apr 2024 22:06:06"
     " +0000 (GMT)",
     Identity("199.106.103.254", U, "nasanppmta05.qualcomm.com", "ESMTP")),
    # --- Exchange
    ("from [10.253.76.25] (10.80.80.8) by nasanex01a.na.qualcomm.com (10.52.223.231) with"
     " Microsoft SMTP Server (version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id"
     " 15.2.1544.9; Fri, 19 Apr 2024 15:06:04 -0700",
     Identity("10.80.80.8", U, "[10.253.76.25]", "ESMTP")),
    ("from localhost (10.202.227.76) by lhrpeml500005.china.huawei.com (7.191.163.240) with"
     " Microsoft SMTP Server (version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256) id"
     " 15.1.2507.31; Tue, 3 Oct 2023 17:17:43 +0100",
     Identity("10.202.227.76", U, "localhost", "ESMTP")),
    ("from DB3EUR04FT027.eop-eur04.prod.protection.outlook.com (2a01:111:e400:7e0c::35) by"
     " DB3EUR04HT134.eop-eur04.prod.protection.outlook.com (2a01:111:e400:7e0c::356) with"
     " Microsoft SMTP Server (version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id"
     " 15.20.2814.13; Fri, 20 Mar 2020 20:27:45 +0000",
     Identity("2a01:111:e400:7e0c::35", U,
              "DB3EUR04FT027.eop-eur04.prod.protection.outlook.com", "ESMTP")),
    # --- ZMailer (vger.kernel.org)
    ("from lindbergh.monkeyblade.net ([23.128.96.19]:40866 \"EHLO        "
     "lindbergh.monkeyblade.net\" rhost-flags-OK-OK-OK-OK) by vger.kernel.org        with"
     " ESMTP id S240345AbjJCQRx (ORCPT        <rfc822;linux-kernel@vger.kernel.org>);"
     "        Tue, 3 Oct 2023 12:17:53 -0400",
     # ZMailer folded the line inside its quoted "EHLO name"; rhost-flags are its own
     # lookups, not a name it writes
     Identity("23.128.96.19", U, "lindbergh.monkeyblade.net", "ESMTP")),
    ("(majordomo@vger.kernel.org) by vger.kernel.org via listexpand        id S240376AbjJCQRz"
     " (ORCPT <rfc822;lists+linux-kernel@lfdr.de>);        Tue, 3 Oct 2023 12:17:55 -0400",
     NO_CLIENT),
    # --- Gmail
    ("from mga07.intel.com (mga07.intel.com. [134.134.136.100])        by mx.google.com with"
     " ESMTPS id n9si146219pll.307.2017.09.27.16.56.22        for <linux-mm@kvack.org>"
     "        (version=TLS1_2 cipher=ECDHE-RSA-AES128-GCM-SHA256 bits=128/128);        Wed, 27"
     " Sep 2017 16:56:23 -0700 (PDT)",
     Identity("134.134.136.100", U, "mga07.intel.com", "ESMTP")),
    ("from scientist-2.lan ( [213.140.22.65])        by mx.google.com with ESMTPS id"
     " l19sm7304410fgb.9.2008.05.12.22.08.21        (version=TLSv1/SSLv3 cipher=RC4-MD5);"
     "        Mon, 12 May 2008 22:08:21 -0700 (PDT)",
     Identity("213.140.22.65", U, "scientist-2.lan", "ESMTP")),
    ("by 10.86.92.7 with SMTP id p7mr15645159fgb.72.1210655302147;        Mon, 12 May 2008"
     " 22:08:22 -0700 (PDT)", NO_CLIENT),
    # --- Exim: the 4.95+ order "(Exim V) with ..." and the older "with ... (Exim V)"
    ("from inpost2.zedat.fu-berlin.de ([130.133.4.69]) by outpost.zedat.fu-berlin.de (Exim"
     " 4.95) with esmtps (TLS1.3) tls TLS_AES_256_GCM_SHA384 (envelope-from"
     " <glaubitz@zedat.fu-berlin.de>) id 1qjDgo-003G9s-Fd; Thu, 21 Sep 2023 09:01:30 +0200",
     Identity("130.133.4.69", "inpost2.zedat.fu-berlin.de", "inpost2.zedat.fu-berlin.de",
              "ESMTP")),
    ("from p5b13a40a.dip0.t-ipconnect.de ([91.19.164.10] helo=[192.168.178.81]) by"
     " inpost2.zedat.fu-berlin.de (Exim 4.95) with esmtpsa (TLS1.3) tls"
     " TLS_AES_256_GCM_SHA384 (envelope-from <glaubitz@physik.fu-berlin.de>) id"
     " 1qjDgo-0028oM-87; Thu, 21 Sep 2023 09:01:30 +0200",
     Identity("91.19.164.10", "p5b13a40a.dip0.t-ipconnect.de", "[192.168.178.81]",
              "ESMTP")),
    ("from sslproxy04.your-server.de ([78.46.152.42]) by dedi548.your-server.de with esmtpsa"
     "  (TLS1.3) tls TLS_AES_256_GCM_SHA384 (Exim 4.96.2) (envelope-from"
     " <sebastian.huber@embedded-brains.de>) id 1ssaBh-0004WM-0i; Mon, 23 Sep 2024 05:56:37"
     " +0200",
     Identity("78.46.152.42", "sslproxy04.your-server.de", "sslproxy04.your-server.de",
              "ESMTP")),
    ("from [82.100.198.138] (helo=mail.embedded-brains.de) by sslproxy04.your-server.de with"
     " esmtpsa (TLS1.3) tls TLS_AES_256_GCM_SHA384 (Exim 4.96) (envelope-from"
     " <sebastian.huber@embedded-brains.de>) id 1ssaBh-0002vO-1t; Mon, 23 Sep 2024 05:56:36"
     " +0200",
     Identity("82.100.198.138", U, "mail.embedded-brains.de", "ESMTP")),
    ("from localhost ([127.0.0.1]) by sslproxy06.your-server.de with esmtpsa (TLS1.3) tls"
     " TLS_AES_256_GCM_SHA384 (Exim 4.96) (envelope-from <alexander.stein@ew.tq-group.com>)"
     " id 1wDLQL-000EJr-0I; Thu, 16 Apr 2026 14:02:54 +0200",
     Identity("127.0.0.1", "localhost", "localhost", "ESMTP")),
]


@pytest.mark.parametrize("header, expected", PUBLIC, ids=[h[:60] for h, _e in PUBLIC])
def test_public_headers(header, expected):
    if expected is NO_CLIENT:
        with pytest.raises(ReceivedError, match="records no client"):
            parse_received(header)
    else:
        assert parse_received(header) == expected


def test_figure():
    assert len(PUBLIC) == 24


def _message(*headers):
    return b"".join(b"Received: " + h.encode() + b"\r\n" for h in headers) + b"\r\nbody\r\n"


def test_the_trust_path_on_a_real_chain():
    """linux-bluetooth as smtp.subspace.kernel.org's mailbox would see it: its own loopback
    hop on top is skipped, its MX's header is used, Proofpoint's below never."""
    chain = [h for h, _e in PUBLIC[2:4]] + [PUBLIC[10][0], PUBLIC[9][0], PUBLIC[11][0]]
    ident, _h = identity_for(_message(*chain), r"smtp\.subspace\.kernel\.org")
    assert ident.addr == "205.220.180.131"
    # the list's own archive copy: the first external header names mail.lfdr.de
    ident, _h = identity_for(_message(PUBLIC[0][0], PUBLIC[1][0], *chain), r"mail\.lfdr\.de")
    assert ident.addr == "2604:1380:45e3:2400::1"
    with pytest.raises(ReceivedError, match="is not the trusted MX"):
        identity_for(_message(PUBLIC[0][0], PUBLIC[1][0], *chain),
                     r"smtp\.subspace\.kernel\.org")
